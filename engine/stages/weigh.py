"""Weigh: judge which sentences of the retrieved passages answer the message, and whether any does."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace

import numpy as np

from engine.evidence import EvidenceJudge, SentenceSource, gather
from engine.policy import IntentSpec
from engine.protocols import EventSink
from engine.types import Turn


@dataclass(frozen=True, slots=True)
class WeighConfig:
    max_passages: int = 5  # passages whose sentences are candidates
    max_candidates: int = 8  # most similar sentences the judge reads
    min_relevance: float = 0.2  # passages below this cosine offer no candidates


class Weigh:
    def __init__(
        self, source: SentenceSource, judge: EvidenceJudge, intents: dict[str, IntentSpec], config: WeighConfig
    ) -> None:
        self.source = source
        self.judge = judge
        self.intents = intents
        self.config = config

    def question(self, turn: Turn) -> str:
        return f"{turn.follows_up} {turn.message.text}" if turn.follows_up else turn.message.text

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        spec = self.intents.get(turn.intent)
        if (spec is not None and (spec.escalate or spec.response)) or not turn.retrieved or not turn.query_vector:
            return turn
        vector = np.asarray(turn.query_vector, dtype=np.float32)
        config = self.config
        candidates = gather(
            vector, turn.retrieved, self.source, config.max_passages, config.max_candidates, config.min_relevance
        )
        if not candidates:
            return turn
        question = self.question(turn)
        scores = await asyncio.to_thread(self.judge.judge, question, candidates)
        judged = sorted(
            (replace(c, support=float(s)) for c, s in zip(candidates, scores, strict=True)),
            key=lambda e: e.support,
            reverse=True,
        )
        return turn.evolve(evidence=tuple(judged), answerability=judged[0].support)
