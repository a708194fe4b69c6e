"""Text helpers shared by retrieval, grounding and policy: words, terms, numbers and sentences."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.types import Redacted

PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*)_(\d+)>")  # a redacted value: <EMAIL_1>


def restore(text: str, vault: Sequence[Redacted]) -> str:
    """The owner's own values back in place of this turn's placeholders (others are left as they are)."""
    values = {item.placeholder: item.value for item in vault}
    return PLACEHOLDER.sub(lambda m: values.get(m.group(0), m.group(0)), text) if values else text


_WORD = re.compile(r"[a-z0-9]+(?:[.,:][0-9]+)*")
_STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her
    here hers him his how i if in into is it its just may me might more most must my no nor not now of off on
    once only or other our ours out over own please same she should so some such than that the their theirs
    them then there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours""".split()
)
# Words customers add around a question that say nothing about what they ask ("hey, quick question pls").
_CHATTER = frozenset(
    """hi hello hey thanks thank pls plz please ok okay yes yeah yep guys lol omg wtf smh im ive dont cant wont whats
    didnt doesnt isnt wasnt arent thats theres whats hows youre get got gonna wanna just really actually like
    know need want tell help question asking wondering also still anyone someone something thing things way""".split()
)
_SUFFIXES = ("ing", "ed", "es", "s")
_ABBREVIATIONS = ("e.g.", "i.e.", "etc.", "vs.", "approx.", "no.", "u.s.", "inc.", "mr.", "ms.", "dr.", "st.")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[\"'(\[]?[A-Z0-9$£€])")
_MARKER = re.compile(r"\s*\d{1,2}[.)]")
_LIST_ITEM = re.compile(r"\s+(?=(?:\d{1,2}[.)]|[-*•])\s+\S)")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("\u2019", "'").replace("'", ""))


def content_words(text: str) -> list[str]:
    return [w for w in words(text) if w not in _STOPWORDS and (len(w) > 2 or w.isdigit())]


def stem(word: str) -> str:
    """A deliberately light stemmer: plural and tense endings only, so 'returns'/'returned' meet 'return'."""
    for suffix in _SUFFIXES:
        if len(word) > len(suffix) + 3 and word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)]
    return word


def terms(text: str) -> list[str]:
    """Stemmed content words, with hyphens, slashes and underscores read as spaces."""
    return [stem(w) for w in content_words(re.sub(r"[-_/]", " ", text))]


def query_terms(text: str) -> list[str]:
    """The terms of a customer's message that carry its meaning (no greetings, fillers or contractions)."""
    kept = [w for w in content_words(re.sub(r"[-_/]", " ", text)) if w not in _CHATTER]
    return [stem(w) for w in kept]


def numbers_in(text: str) -> set[str]:
    """Numbers as written facts: '1,500' and '1500' are one; a trailing period is not part of a number."""
    found: set[str] = set()
    for word in words(text):
        if any(c.isdigit() for c in word):
            value = word.replace(",", "")
            if re.fullmatch(r"\d+\.0+", value):
                value = value.split(".")[0]
            found.add(value)
    return found


def sentences(text: str) -> list[str]:
    """Sentences and list items, in order; abbreviations such as 'e.g.' do not end a sentence."""
    pieces: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        for item in _LIST_ITEM.split(line):
            pieces.extend(_split_sentences(item))
    return [p for p in (piece.strip() for piece in pieces) if p]


def _split_sentences(text: str) -> list[str]:
    parts: list[str] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        candidate = text[start : match.start()]
        tail = candidate[-8:].lower()
        if any(tail.endswith(abbreviation) for abbreviation in _ABBREVIATIONS) or _MARKER.fullmatch(candidate):
            continue
        parts.append(candidate)
        start = match.end()
    parts.append(text[start:])
    return parts


# Invisible and formatting characters that make a message display differently from what a model reads:
# zero-width and bidirectional controls, Unicode tag characters (U+E0000-E007F, "ASCII smuggling"),
# soft hyphens, C0/C1 controls and lone surrogates.
_INVISIBLE = re.compile(
    "[\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ud800-\udfff\U000e0000-\U000e007f]"
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BLANK_RUNS = re.compile(r"[ \t]{2,}")


def clean_text(text: str) -> str:
    """A customer's message as every later step should read it: NFKC-normalised, without invisible or
    control characters, runs of blanks collapsed. Limits on length apply to this text."""
    text = unicodedata.normalize("NFKC", _INVISIBLE.sub("", text))
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = _BLANK_RUNS.sub(" ", text)
    return text.strip()
