"""Messages that are only a greeting, a thank-you or an acknowledgement ("hola", "merci beaucoup", "谢谢",
"ok", "vale", "👍"), in every reply language, and which language each says.

The phrases live in `engine/data/courtesy.json`, by kind and language; phrases shared by several languages
("hallo", "ciao") or romanised forms of languages with their own script ("spasibo") are listed under "any":
a greeting, but no evidence of a language. A message counts only when nothing is left once its phrases,
punctuation and emoji are taken away: "gracias, pero mi pedido no llegó" is a question, not a thank-you.
A message of emoji alone counts when each one says one of the kinds ("👍", "🙏"); an emoji of displeasure
("ok 👎", "thanks 🙄") makes any message more than courtesy.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

_PATH = Path(__file__).resolve().parent / "data" / "courtesy.json"
KINDS = ("greeting", "thanks", "acknowledgement")
# emoji that say a kind on their own; skin tones, variation selectors and joiners around them are ignored
_EMOJI_KINDS = {
    **dict.fromkeys("👍👌🆗✅✔☑🙂😊😀😃😄👏💯🤝", "acknowledgement"),
    **dict.fromkeys("🙏❤💙💚💛💜🧡🤍🖤🥰😍", "thanks"),
    "👋": "greeting",
}
_DISPLEASED = frozenset("👎😡😠🤬😤💢😒🙄😞😟😢😭😩😫🤦😑😐🤨❌🙁☹😕😣😖😔🥺🖕💩")
_DISPLEASED_TEXT = re.compile(r"[:;=]'?-?[(\[/\\|]|>:|-_-|\bsmh\b|\bwtf\b", re.IGNORECASE)  # ":(", ":/", ">:("
_EMOJI_MODIFIERS = frozenset("️︎‍⃣") | {chr(c) for c in range(0x1F3FB, 0x1F400)}
ANY = "any"
MAX_CHARS = 80  # a longer message is not small talk, whatever it holds


@dataclass(frozen=True, slots=True)
class Courtesy:
    # "thanks" when it thanks at all ("hola, gracias"), else "greeting" when it greets, else "acknowledgement"
    kind: str
    language: str | None  # None when its phrases are shared by several languages or say different ones


def _normal(text: str) -> str:
    """Lower case, letters, digits and the marks on them only, single spaces: how phrases and messages
    are compared. A mark after anything else (an emoji's variation selector) goes with it."""
    text = unicodedata.normalize("NFKC", text.replace("İ", "i")).lower()  # Turkish capital İ: "i", not "i̇"
    kept: list[str] = []
    for c in text:
        kind = unicodedata.category(c)[0]
        if kind in "LN" or (kind == "M" and kept and kept[-1] != " "):
            kept.append(c)
        else:
            kept.append(" ")
    return " ".join("".join(kept).split())


def _load(path: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("_about", None)
    if set(data) != set(KINDS):
        raise ValueError(f"{path}: needs exactly the kinds {KINDS}")
    return {kind: {lang: tuple(_normal(p) for p in phrases) for lang, phrases in data[kind].items()} for kind in KINDS}


PHRASES = _load(_PATH)
# phrase → (kind, language); a phrase listed for two kinds or languages would be a data error (tests check)
_OWNER = {phrase: (kind, lang) for kind in KINDS for lang, phrases in PHRASES[kind].items() for phrase in phrases}
_BY_FIRST: dict[str, list[str]] = {}
for _phrase in sorted(_OWNER, key=len, reverse=True):
    _BY_FIRST.setdefault(_phrase[0], []).append(_phrase)


def _spaced(c: str) -> bool:
    """A letter of a script that separates words with spaces (not Thai, Chinese or Japanese)."""
    return c.isalpha() and not ("\u0e00" <= c <= "\u0e7f" or "\u3040" <= c <= "\u9fff" or "\uf900" <= c <= "\ufaff")


def _phrases_of(text: str) -> list[str] | None:
    """The phrases the text is made of, or None when it is anything else. One pass over the positions, each
    reached at most once (no backtracking, whatever the text)."""
    came_from: dict[int, tuple[int, str]] = {0: (0, "")}
    for start in range(len(text)):
        if start not in came_from:
            continue
        if text[start] == " ":
            came_from.setdefault(start + 1, (start, ""))
            continue
        for phrase in _BY_FIRST.get(text[start], ()):
            end = start + len(phrase)
            if not text.startswith(phrase, start) or end in came_from:
                continue
            if end < len(text) and _spaced(text[end - 1]) and _spaced(text[end]):
                continue  # "thanks" in "thanksgiving": a word goes on
            came_from[end] = (start, phrase)
    if len(text) not in came_from:
        return None
    found, at = [], len(text)
    while at:
        at, phrase = came_from[at]
        if phrase:
            found.append(phrase)
    return found[::-1]


def _first_kind(kinds: set[str]) -> str:
    """Thanking outweighs greeting, and greeting an acknowledgement: "ok thanks" thanks, "hi ok" greets."""
    return next(kind for kind in ("thanks", "greeting", "acknowledgement") if kind in kinds)


def _emoji_only(text: str) -> Courtesy | None:
    """A message of emoji (and punctuation) alone, each saying a kind: "👍", "🙏🙏"."""
    kinds: set[str] = set()
    for c in text:
        if c in _EMOJI_KINDS:
            kinds.add(_EMOJI_KINDS[c])
        elif not (c.isspace() or c in _EMOJI_MODIFIERS or unicodedata.category(c)[0] == "P"):
            return None  # another emoji, a symbol or anything else: not one this knows to be courtesy
    return Courtesy(_first_kind(kinds), None) if kinds else None


def courtesy(text: str) -> Courtesy | None:
    """What the message is when it is only greetings, thanks and acknowledgements; None when it says
    anything else."""
    if len(text) > MAX_CHARS or any(c in _DISPLEASED for c in text) or _DISPLEASED_TEXT.search(text):
        return None
    normal = _normal(text)
    if not normal:
        return _emoji_only(text)
    if len(normal) > MAX_CHARS:
        return None
    phrases = _phrases_of(normal)
    if not phrases:
        return None
    owners = [_OWNER[p] for p in phrases]
    languages = {lang for _, lang in owners if lang != ANY}
    return Courtesy(_first_kind({k for k, _ in owners}), languages.pop() if len(languages) == 1 else None)
