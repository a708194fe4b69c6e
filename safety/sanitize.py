"""Input hygiene before any model sees the text: Unicode normalisation and invisible-character removal.

Zero-width, bidirectional and tag characters are a common way to smuggle instructions past filters and
to make a message display differently from what the model reads. The cleaning itself is
`engine.text.clean_text`, so channels can apply their limits to the same text.
"""

from __future__ import annotations

from dataclasses import replace

from engine.protocols import EventSink
from engine.text import clean_text
from engine.types import Turn

__all__ = ["SanitizeInput", "clean_text"]


class SanitizeInput:
    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        cleaned = clean_text(turn.message.text)
        if cleaned == turn.message.text:
            return turn
        return turn.evolve(message=replace(turn.message, text=cleaned))
