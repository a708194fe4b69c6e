"""The fixed replies (hand-overs, refusals, busy, failures) in each language of `engine.language.LANGUAGES`.

The texts live in `engine/data/replies.json`, one object per reply with one text per language; a language
without a text falls back to English. Placeholders (`{company}`, `{closest}`) are filled with `str.format`.
"""

from __future__ import annotations

import json
from pathlib import Path

from engine.language import LANGUAGES
from engine.types import ESCALATE_ACTION, Action

_PATH = Path(__file__).resolve().parent / "data" / "replies.json"


def _load(path: Path) -> dict[str, dict[str, str]]:
    replies: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    for key, texts in replies.items():
        unknown = set(texts) - set(LANGUAGES)
        if "en" not in texts or unknown:
            raise ValueError(f"{path}: reply {key!r} needs an English text and only languages of {LANGUAGES}")
    return replies


REPLIES = _load(_PATH)


def reply_text(key: str, language: str = "en", **fields: str) -> str:
    """The reply `key` in `language` (else English), its placeholders filled from `fields`."""
    texts = REPLIES[key]
    return texts.get(language, texts["en"]).format(**fields)


def handover_text(key: str, way_back: bool, language: str = "en", **fields: str) -> str:
    """A hand-over reply that says a person will follow up: "in this conversation" only where an agent's
    reply can reach it (`way_back`); elsewhere the `{key}_elsewhere` text, which names no place."""
    return reply_text(key if way_back else f"{key}_elsewhere", language, **fields)


BUTTONS = ("talk_to_human", "approve", "cancel")  # the replies that are button labels


def label_language(label: str) -> str | None:
    """The language of one of our own button labels (a click carries its label, not our reply's language);
    None for a label two languages write alike."""
    languages = {lang for key in BUTTONS for lang, text in REPLIES[key].items() if text == label}
    return languages.pop() if len(languages) == 1 else None


def escalate_action(language: str = "en") -> Action:
    """The "talk to a human" button, labelled in `language`; what it does does not depend on the label."""
    if language == "en":
        return ESCALATE_ACTION
    return Action(label=reply_text("talk_to_human", language), action=ESCALATE_ACTION.action)
