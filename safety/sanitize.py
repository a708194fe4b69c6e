"""Input hygiene before any model sees the text: Unicode normalisation and invisible-character removal.

Zero-width and bidirectional control characters are a common way to smuggle instructions past filters
and to make a message display differently from what the model reads.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import replace

from engine.protocols import EventSink
from engine.types import Turn

_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_BLANK_RUNS = re.compile(r"[ \t]{2,}")


def clean_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _INVISIBLE.sub("", text)
    text = _CONTROL.sub(" ", text)
    text = _BLANK_RUNS.sub(" ", text)
    return text.strip()


class SanitizeInput:
    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        cleaned = clean_text(turn.message.text)
        if cleaned == turn.message.text:
            return turn
        return turn.evolve(message=replace(turn.message, text=cleaned))
