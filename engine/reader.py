"""The reader: the local model, tuned with a LoRA adapter, says which candidate sentence answers a message.

The evidence judge's features see words and embeddings; a near miss (a fee for another country, the
limit of another card) shares both with the answer. The reader reads the message and the numbered
candidate sentences together and puts its probability on the number of the sentence that states what
was asked, or on 0 when none does. One forward pass, no generated text: its probabilities become
features of the judge (see engine/judge.py), so code still decides.

The prompt layout below is the one `switchboard eval training-set` writes training examples in; an
adapter trained on it is only meaningful with this exact layout (its manifest records READER_FORMAT).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from engine.evidence import plain
from engine.protocols import ChatMessage, Vectors
from engine.types import Evidence

READER_FORMAT = "reader-v1"
MAX_CHOICES = 8  # single-digit numbers: each answer is one token for the tokenizers used here
NONE = "0"

READER_PROMPT = """You check a support assistant's evidence.
Read the customer's message and the numbered help-centre sentences.
Reply with the number of the sentence that states what the customer asks, or 0 if none states it.
A sentence about another country, product, plan, card, fee, limit or situation than the one asked
about does not state it, even when it looks similar."""


def reader_messages(question: str, candidates: Sequence[Evidence]) -> list[ChatMessage]:
    """The customer's message and up to MAX_CHOICES sentences, each with its page and section."""
    lines = []
    for number, candidate in enumerate(candidates[:MAX_CHOICES], start=1):
        where = candidate.passage.title
        if candidate.passage.section and candidate.passage.section != where:
            where = f"{where} › {candidate.passage.section}"  # noqa: RUF001 - part of READER_FORMAT
        text = " ".join(plain(candidate.sentence).split())
        lines.append(f"[{number}] ({where}) {text}")
    user = f"Customer message: {' '.join(question.split())}\n\nSentences:\n" + "\n".join(lines)
    return [ChatMessage("system", READER_PROMPT), ChatMessage("user", user)]


def reader_target(labels: Sequence[float]) -> str:
    """The answer to learn: the first sentence holding every answer fact, else the first holding some,
    else 0 (nothing among the candidates answers: the message must be handed over)."""
    shown = list(labels[:MAX_CHOICES])
    for wanted in (1.0, 0.5):
        for number, value in enumerate(shown, start=1):
            if value >= wanted:
                return str(number)
    return NONE


class ChoiceScorer(Protocol):
    """A model that gives the probability of each choice as the first token of its answer."""

    async def score(
        self, messages: Sequence[ChatMessage], choices: Sequence[str], adapter: str | None = None, budget: int = 2048
    ) -> list[float]: ...


@dataclass(frozen=True, slots=True)
class Reading:
    """The reader's probabilities: that none of the candidates answers, and each candidate's (in order)."""

    none: float
    choices: tuple[float, ...]


class Reader:
    def __init__(self, scorer: ChoiceScorer, adapter: str | None) -> None:
        self.scorer = scorer
        self.adapter = adapter

    async def read(self, question: str, candidates: Sequence[Evidence]) -> Reading:
        shown = candidates[:MAX_CHOICES]
        numbers = [str(n) for n in range(len(shown) + 1)]
        probabilities = await self.scorer.score(reader_messages(question, shown), numbers, self.adapter)
        return Reading(probabilities[0], tuple(probabilities[1:]) + (0.0,) * (len(candidates) - len(shown)))


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def reader_rows(supports: Sequence[float], reading: Reading) -> Vectors:
    """One row of READER_FEATURES per candidate: the evidence judge's support, the reader's probability
    for that sentence, and its probability that some sentence answers (all on the logit scale)."""
    answerable = _logit(1.0 - reading.none)
    rows = [[_logit(s), _logit(c), answerable] for s, c in zip(supports, reading.choices, strict=True)]
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(READER_FEATURES))


READER_FEATURES = ("judge_support", "reader_choice", "reader_answerable")
