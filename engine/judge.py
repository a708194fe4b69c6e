"""The evidence judge: the probability that a sentence answers a message, from measurable signals.

A logistic model over a few interpretable features, fitted by `switchboard eval calibrate` on labelled
customer messages from knowledge bases that the quality report does not score (see docs/quality.md).
The weights, the feature scaling and the answer threshold travel together in one JSON file.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engine.protocols import Embedder, Vectors
from engine.text import query_terms, stem, terms
from engine.types import Evidence

FEATURES = (
    "similarity",  # embedding cosine of message and sentence
    "residual_similarity",  # cosine of what the message asks beyond the words it shares with the sentence
    "passage_similarity",  # the passage's retrieval cosine
    "top_passage",  # 1 for a sentence of the best-ranked passage
    "term_coverage",  # share of the message's terms found in the sentence, its section and page title
    "asks_amount_and_states_one",
    "asks_time_and_states_one",
    "asks_amount_states_none",
    "asks_time_states_none",
    "length",  # log of the sentence's word count
)

_ASKS_AMOUNT = re.compile(
    r"\b(how much|how many|cost|costs|fee|fees|price|prices|charge|charges|limit|limits|max|maximum|min|minimum"
    r"|percent|percentage|rate|apy|amount|pay)\b",
    re.IGNORECASE,
)
_ASKS_TIME = re.compile(
    r"\b(how long|when|what time|how soon|how fast|how quickly|deadline|expire|expires|until)\b", re.IGNORECASE
)
_STATES_AMOUNT = re.compile(r"[$£€]\s?\d|\d\s?%|\b\d+(?:[.,]\d+)?\s?(?:gb|mb|kg|lb|points|miles)\b|\bfree\b", re.I)
_STATES_TIME = re.compile(
    r"\b\d+\s*(?:business |calendar |working )?(?:days?|hours?|weeks?|months?|years?|minutes?)\b"
    r"|\b(?:midnight|noon|immediately|instantly|same day|next day|\d{1,2}:\d{2}|\d{1,2}\s?(?:a\.?m|p\.?m))\b",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[A-Za-z0-9$%.,']+")


class JudgeError(ValueError):
    """A judge file that cannot be used; the message names the file and what is wrong."""


@dataclass(frozen=True, slots=True)
class JudgeModel:
    weights: tuple[float, ...]
    bias: float
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    threshold: float  # answer when the best sentence's support is at least this
    suggest_threshold: float  # below `threshold`, down to this: hand over, showing the closest sentences
    features: tuple[str, ...] = FEATURES
    provenance: dict[str, Any] = field(default_factory=dict)
    # (share of unanswerable messages handed over, the lowest threshold that does it), out of set, rising:
    # an operator states a target (`handover_target`) instead of guessing a threshold
    handover_curve: tuple[tuple[float, float], ...] = ()

    def probability(self, rows: Vectors) -> Vectors:
        z = (rows - np.asarray(self.mean)) / np.asarray(self.scale)
        logits = z @ np.asarray(self.weights) + self.bias
        return np.asarray(1.0 / (1.0 + np.exp(-logits)), dtype=np.float32)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path, features: tuple[str, ...] = FEATURES) -> JudgeModel:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            model = cls(
                weights=tuple(float(w) for w in data["weights"]),
                bias=float(data["bias"]),
                mean=tuple(float(m) for m in data["mean"]),
                scale=tuple(float(s) for s in data["scale"]),
                threshold=float(data["threshold"]),
                suggest_threshold=float(data["suggest_threshold"]),
                features=tuple(str(f) for f in data["features"]),
                provenance=dict(data.get("provenance") or {}),
                handover_curve=tuple((float(t), float(v)) for t, v in data.get("handover_curve") or ()),
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise JudgeError(f"{path}: not a usable evidence judge ({error})") from None
        if model.features != features or not (
            len(model.weights) == len(model.mean) == len(model.scale) == len(features)
        ):
            raise JudgeError(f"{path}: made for other features; recalibrate with `switchboard eval calibrate`")
        targets = [t for t, _ in model.handover_curve]
        if targets != sorted(targets) or not all(0.0 < t < 1.0 for t in targets):
            raise JudgeError(f"{path}: handover_curve must list shares between 0 and 1, rising")
        return model

    def threshold_for(self, target: float) -> float:
        """The answer threshold that hands over at least `target` of unanswerable messages (out of set, on
        what this judge was calibrated on): the curve's first point at or above the target."""
        if not self.handover_curve:
            raise JudgeError(
                "no hand-over curve in this file (one calibrated before 2026-11-29, such as the shipped reader "
                "combiner; `switchboard eval calibrate` or `calibrate-reader` writes one): "
                "give answer_threshold instead"
            )
        for share, threshold in self.handover_curve:
            if share >= target - 1e-9:
                return threshold
        highest = self.handover_curve[-1][0]
        raise JudgeError(f"handover_target {target}: this judge's curve goes up to {highest}")


def residual(text: str, shared: set[str]) -> str:
    """The words of `text` that are not among the terms it shares with the other side."""
    kept = [w for w in _TOKEN.findall(text) if stem(w.lower().strip(".,'")) not in shared]
    return " ".join(kept) or "."


def lexical_features(question: str, candidate: Evidence) -> list[float]:
    asked = set(query_terms(question))
    sentence = candidate.sentence
    found = set(terms(f"{candidate.passage.title} {candidate.passage.section} {sentence}"))
    amount, time = bool(_ASKS_AMOUNT.search(question)), bool(_ASKS_TIME.search(question))
    states_amount, states_time = bool(_STATES_AMOUNT.search(sentence)), bool(_STATES_TIME.search(sentence))
    return [
        len(asked & found) / len(asked) if asked else 0.0,
        float(amount and states_amount),
        float(time and states_time),
        float(amount and not states_amount),
        float(time and not states_time),
        math.log(1 + len(sentence.split())),
    ]


def feature_rows(question: str, candidates: Sequence[Evidence], embedder: Embedder) -> Vectors:
    """One row of FEATURES per candidate (blocking: embeds the residual texts)."""
    if not candidates:
        return np.zeros((0, len(FEATURES)), dtype=np.float32)
    asked = set(terms(question))
    pieces: list[str] = []
    for candidate in candidates:
        shared = asked & set(terms(f"{candidate.passage.section} {candidate.sentence}"))
        pieces += [residual(question, shared), residual(candidate.sentence, shared)]
    vectors = embedder.embed(pieces)
    rows = []
    for n, candidate in enumerate(candidates):
        residual_similarity = float(vectors[2 * n] @ vectors[2 * n + 1])
        rows.append(
            [
                candidate.similarity,
                residual_similarity,
                candidate.passage_score,
                float(candidate.passage_rank == 0),
                *lexical_features(question, candidate),
            ]
        )
    return np.asarray(rows, dtype=np.float32)


class FeatureJudge:
    """The calibrated logistic judge (see module docstring)."""

    def __init__(self, embedder: Embedder, model: JudgeModel) -> None:
        self.embedder = embedder
        self.model = model

    @property
    def name(self) -> str:
        return str(self.model.provenance.get("name", "feature-judge"))

    @property
    def threshold(self) -> float:
        return self.model.threshold

    def judge(self, question: str, candidates: Sequence[Evidence]) -> list[float]:
        rows = feature_rows(question, candidates, self.embedder)
        return [float(p) for p in self.model.probability(rows)] if len(rows) else []
