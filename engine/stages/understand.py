"""Understand: embed the message once and name its intent by the nearest configured example."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from engine.policy import IntentSpec
from engine.protocols import Embedder, EventSink, Vectors
from engine.types import Turn

FALLBACK_INTENT = "general_question"


class IntentIndex:
    """Nearest-example intent classifier over sentence embeddings; intents live in configuration."""

    def __init__(self, embedder: Embedder, intents: Sequence[IntentSpec]) -> None:
        self.intents = {spec.name: spec for spec in intents}
        self._labels: list[str] = [spec.name for spec in intents for _ in spec.examples]
        examples = [example for spec in intents for example in spec.examples]
        self._vectors: Vectors = (
            embedder.embed(examples) if examples else np.zeros((0, embedder.dimension), dtype=np.float32)
        )

    def by_action(self, action: str) -> str | None:
        """The intent whose buttons include this action: a click means that intent, whatever its label says."""
        for spec in self.intents.values():
            if any(a.action == action for a in spec.actions):
                return spec.name
        return None

    def by_pattern(self, text: str) -> str | None:
        """An intent whose patterns match the text; hand-over intents first, since they must never be missed."""
        ordered = sorted(self.intents.values(), key=lambda spec: not spec.escalate)
        for spec in ordered:
            if any(pattern.search(text) for pattern in spec.patterns):
                return spec.name
        return None

    def classify(self, vector: Vectors, threshold: float) -> tuple[str, float]:
        if not self._labels:
            return FALLBACK_INTENT, 0.0
        scores = self._vectors @ vector.reshape(-1)
        best = int(np.argmax(scores))
        score = float(scores[best])
        return (self._labels[best], score) if score >= threshold else (FALLBACK_INTENT, score)


class Understand:
    def __init__(self, embedder: Embedder, intents: IntentIndex, threshold: float) -> None:
        self.embedder = embedder
        self.intents = intents
        self.threshold = threshold

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        vector = (await asyncio.to_thread(self.embedder.embed, [turn.message.text]))[0]
        clicked = self.intents.by_action(turn.message.action) if turn.message.action else None
        named = clicked or self.intents.by_pattern(turn.message.text)
        intent = named or self.intents.classify(vector, self.threshold)[0]
        return turn.evolve(intent=intent, query_vector=tuple(float(x) for x in vector))
