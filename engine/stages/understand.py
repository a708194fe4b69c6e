"""Understand: embed the message once and name its intent by the nearest configured example."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import numpy as np

from engine.person_request import PersonRequestModel
from engine.policy import IntentSpec
from engine.protocols import Embedder, EventSink, Vectors
from engine.types import Turn

FALLBACK_INTENT = "general_question"


class IntentIndex:
    """Nearest-example intent classifier over sentence embeddings; intents live in configuration."""

    def __init__(
        self, embedder: Embedder, intents: Sequence[IntentSpec], person: PersonRequestModel | None = None
    ) -> None:
        self.intents = {spec.name: spec for spec in intents}
        # the detector names the first hand-over intent; with none configured there is nothing to name
        self.handover = next((spec.name for spec in intents if spec.escalate), None)
        self.person = person if self.handover is not None else None
        self._labels: list[str] = [spec.name for spec in intents for _ in spec.examples]
        examples = [example for spec in intents for example in spec.examples]
        self._vectors: Vectors = (
            embedder.embed(examples) if examples else np.zeros((0, embedder.dimension), dtype=np.float32)
        )
        self._calibration = _fit_calibration(self._vectors, self._labels)

    def _features(self, scores: Vectors, exclude: int | None = None) -> tuple[str, float, float]:
        """(nearest intent, its similarity, its lead over the nearest example of another intent)."""
        order = np.argsort(-scores)
        ranked = [int(i) for i in order if int(i) != exclude]
        best = ranked[0]
        rival = next((i for i in ranked if self._labels[i] != self._labels[best]), best)
        return self._labels[best], float(scores[best]), float(scores[best] - scores[rival])

    def confidence(self, vector: Vectors) -> tuple[str, float]:
        """The nearest intent and the calibrated probability that it is the right one (fitted at start
        on the examples themselves, each named by the others)."""
        if not self._labels:
            return FALLBACK_INTENT, 0.0
        name, score, lead = self._features(self._vectors @ vector.reshape(-1))
        return name, _probability(self._calibration, score, lead)

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

    def named_outright(self, text: str, vector: Vectors) -> str | None:
        """The intent the message names without doubt: a hand-over pattern, then the person-request
        detector (what the patterns miss), then another intent's pattern."""
        named = self.by_pattern(text)
        if named is not None and self.intents[named].escalate:
            return named
        if self.person is not None and self.person.asks_for_person(text, vector):
            return self.handover
        return named

    def classify(self, vector: Vectors, threshold: float) -> tuple[str, float]:
        if not self._labels:
            return FALLBACK_INTENT, 0.0
        scores = self._vectors @ vector.reshape(-1)
        best = int(np.argmax(scores))
        score = float(scores[best])
        return (self._labels[best], score) if score >= threshold else (FALLBACK_INTENT, score)


def _probability(weights: Vectors, score: float, lead: float) -> float:
    z = float(weights[0] + weights[1] * score + weights[2] * lead)
    return float(1.0 / (1.0 + np.exp(-z)))


def _fit_calibration(vectors: Vectors, labels: list[str]) -> Vectors:
    """Logistic regression of "the nearest other example has the same intent" on (similarity, lead),
    leave-one-out over the configured examples; a flat prior when there is too little to fit."""
    n = len(labels)
    if n < 10 or len(set(labels)) < 2:
        return np.array([0.0, 0.0, 0.0], dtype=np.float32)
    sims = vectors @ vectors.T
    rows, outcomes = [], []
    for i in range(n):
        scores = sims[i].copy()
        scores[i] = -np.inf
        order = np.argsort(-scores)
        best = int(order[0])
        rival = next((int(j) for j in order if labels[int(j)] != labels[best]), best)
        rows.append((1.0, float(scores[best]), float(scores[best] - scores[rival])))
        outcomes.append(1.0 if labels[best] == labels[i] else 0.0)
    x, y = np.array(rows), np.array(outcomes)
    weights = np.zeros(3)
    for _ in range(50):  # Newton's method with a little ridge: a few dozen examples, converges fast
        p = 1.0 / (1.0 + np.exp(-(x @ weights)))
        gradient = x.T @ (p - y) + 0.1 * weights
        hessian = (x.T * (p * (1 - p))) @ x + 0.1 * np.eye(3)
        weights -= np.linalg.solve(hessian, gradient)
    return weights.astype(np.float32)


class Understand:
    def __init__(self, embedder: Embedder, intents: IntentIndex, threshold: float) -> None:
        self.embedder = embedder
        self.intents = intents
        self.threshold = threshold

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        vector = (await asyncio.to_thread(self.embedder.embed, [turn.message.text]))[0]
        clicked = self.intents.by_action(turn.message.action) if turn.message.action else None
        named = clicked or self.intents.named_outright(turn.message.text, vector)
        intent = named or self.intents.classify(vector, self.threshold)[0]
        nearest, probability = self.intents.confidence(vector)
        # a click, a pattern or the person-request detector names the intent outright; otherwise how sure
        # the nearest example is
        sure = 1.0 if named else (probability if nearest == intent else 1.0 - probability)
        return turn.evolve(intent=intent, intent_confidence=sure, query_vector=tuple(float(x) for x in vector))
