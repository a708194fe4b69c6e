"""Weigh: judge which sentences of the retrieved passages answer the message, and whether any does.

With a reader (engine/reader.py), the evidence judge's support and the reader's probabilities are combined
by a second calibrated model (`ReaderStack`); when the reader cannot answer in time (the model busy or
gone) the judge's support decides alone, mapped so that it answers and suggests exactly as the judge's
own calibrated thresholds would."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from engine.evidence import EvidenceJudge, SentenceSource, gather
from engine.judge import JudgeModel
from engine.language import detect_language
from engine.policy import IntentSpec, answers_itself
from engine.protocols import EventSink, GenerationUnavailable, PromptTooLong
from engine.reader import Reader, reader_rows
from engine.replies import reply_text
from engine.types import Evidence, Retrieved, Turn

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class WeighConfig:
    max_passages: int = 5  # passages whose sentences are candidates
    max_candidates: int = 8  # most similar sentences the judge reads
    min_relevance: float = 0.2  # passages below this cosine offer no candidates


@dataclass(frozen=True, slots=True)
class ReaderStack:
    """The reader and the model that combines its probabilities with the judge's support (calibrated by
    `switchboard eval calibrate-reader`); `judge` is the evidence judge's own model, for its thresholds,
    and `thresholds` the (suggest, answer) thresholds the policy applies to the combined support."""

    reader: Reader
    combiner: JudgeModel
    judge: JudgeModel
    thresholds: tuple[float, float]
    timeout_s: float = 10.0  # past this (the model busy with long answers) the judge decides alone

    def alone(self, supports: Sequence[float]) -> list[float]:
        """The judge's supports mapped piecewise-linearly so that its suggest and answer thresholds land on
        the policy's: without the reader, decisions are the judge's own."""
        suggest, answer = self.thresholds
        points = {0.0: 0.0, self.judge.suggest_threshold: suggest, 1.0: 1.0}
        points[self.judge.threshold] = answer  # where the two coincide, answering is what must hold
        xs = sorted(points)
        return [float(np.interp(s, xs, [points[x] for x in xs])) for s in supports]


class Weigh:
    def __init__(
        self,
        source: SentenceSource,
        judge: EvidenceJudge,
        intents: dict[str, IntentSpec],
        config: WeighConfig,
        stack: ReaderStack | None = None,
        knowledge_language: str = "en",
    ) -> None:
        # a message in another language than the help centre's, untranslated, is not judged against it: the
        # embedder and the judge read one language, and their scores across two are noise (Chinese against an
        # English help centre: 10 % of answerable fintech dev messages answered confidently wrong)
        self.knowledge_language = knowledge_language
        self.source = source
        self.judge = judge
        self.intents = intents
        self.config = config
        self.stack = stack

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        searched = turn.retrieved or (turn.alone is not None and turn.alone[0])
        if answers_itself(self.intents.get(turn.intent)) or not searched or not turn.query_vector:
            return turn  # (a follow-up's joined search may have lost every passage to the quarantine, not its own)
        if not turn.query and detect_language(turn.message.text) not in (None, self.knowledge_language):
            return turn  # no evidence: handed over, in the customer's language
        candidates, scores = await self._judged(turn.question, turn.retrieved, turn.query_vector)
        if turn.alone is not None:  # read with the earlier question: unless the message alone is better evidence
            hits, vector = turn.alone
            own = await self._judged(turn.query or turn.message.text, hits, vector)
            if max(own[1], default=-1.0) > max(scores, default=-1.0):
                turn = turn.evolve(retrieved=hits, query_vector=vector, follows_up="")
                candidates, scores = own
            turn = turn.evolve(alone=None)
        if not candidates:
            return turn
        question = turn.question
        if self.stack is not None:
            await events.status(reply_text("reading", turn.speaks))
            scores = await self._with_reader(self.stack, question, candidates, scores)
        judged = sorted(
            (replace(c, support=float(s)) for c, s in zip(candidates, scores, strict=True)),
            key=lambda e: e.support,
            reverse=True,
        )
        return turn.evolve(evidence=tuple(judged), answerability=judged[0].support)

    async def _judged(
        self, question: str, retrieved: Sequence[Retrieved], vector: Sequence[float]
    ) -> tuple[list[Evidence], list[float]]:
        """The candidate sentences of these passages and the judge's support for each."""
        config = self.config
        candidates = gather(
            np.asarray(vector, dtype=np.float32),
            retrieved,
            self.source,
            config.max_passages,
            config.max_candidates,
            config.min_relevance,
        )
        if not candidates:
            return [], []
        return candidates, await asyncio.to_thread(self.judge.judge, question, candidates)

    @staticmethod
    async def _with_reader(
        stack: ReaderStack, question: str, candidates: Sequence[Evidence], supports: list[float]
    ) -> list[float]:
        try:
            async with asyncio.timeout(stack.timeout_s):
                reading = await stack.reader.read(question, candidates)
        except (GenerationUnavailable, PromptTooLong, TimeoutError) as error:
            log.warning("the reader could not read in time, the evidence judge decides alone: %r", error)
            return stack.alone(supports)
        rows = reader_rows(supports, reading)
        return [float(p) for p in stack.combiner.probability(rows)]
