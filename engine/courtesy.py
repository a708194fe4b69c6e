"""Messages that are only a greeting or only a thank-you ("hola", "merci beaucoup", "谢谢"), in every reply
language, and which language each says.

The phrases live in `engine/data/courtesy.json`, by kind and language; phrases shared by several languages
("hallo", "ciao") are listed under "any": they are a greeting, but no evidence of a language. A message counts
only when nothing is left once its phrases, punctuation and emoji are taken away: "gracias, pero mi pedido no
llegó" is a question, not a thank-you.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

_PATH = Path(__file__).resolve().parent / "data" / "courtesy.json"
KINDS = ("greeting", "thanks")
ANY = "any"
MAX_CHARS = 80  # a longer message is not small talk, whatever it holds


@dataclass(frozen=True, slots=True)
class Courtesy:
    kind: str  # "thanks" when the message thanks at all ("hola, gracias"), else "greeting"
    language: str | None  # None when its phrases are shared by several languages or say different ones


def _load(path: Path) -> dict[str, dict[str, tuple[str, ...]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("_about", None)
    if set(data) != set(KINDS):
        raise ValueError(f"{path}: needs exactly the kinds {KINDS}")
    return {kind: {lang: tuple(_normal(p) for p in phrases) for lang, phrases in data[kind].items()} for kind in KINDS}


def _normal(text: str) -> str:
    """Lower case, letters, marks and digits only, single spaces: how phrases and messages are compared."""
    text = unicodedata.normalize("NFKC", text).lower()
    kept = "".join(c if unicodedata.category(c)[0] in "LMN" else " " for c in text)
    return " ".join(kept.split())


PHRASES = _load(_PATH)
# phrase → (kind, language); a phrase listed for two kinds or languages would be a data error (tests check)
_OWNER = {phrase: (kind, lang) for kind in KINDS for lang, phrases in PHRASES[kind].items() for phrase in phrases}
_WHOLE = re.compile(
    "(?:{0})(?: ?(?:{0}))*".format("|".join(re.escape(p) for p in sorted(_OWNER, key=len, reverse=True)))
)
_ONE = re.compile("|".join(re.escape(p) for p in sorted(_OWNER, key=len, reverse=True)))


def courtesy(text: str) -> Courtesy | None:
    """What the message is when it is only greetings and thanks; None when it says anything else."""
    if len(text) > MAX_CHARS:
        return None
    normal = _normal(text)
    if not normal or _WHOLE.fullmatch(normal) is None:
        return None
    owners = [_OWNER[m.group()] for m in _ONE.finditer(normal)]
    kind = "thanks" if any(k == "thanks" for k, _ in owners) else "greeting"
    languages = {lang for _, lang in owners if lang != ANY}
    return Courtesy(kind, languages.pop() if len(languages) == 1 else None)
