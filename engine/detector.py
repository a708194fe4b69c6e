"""A message detector: a linear model over a message's embedding and its letter n-grams.

Used where fixed patterns name only the forms they were written from and customers (or attackers) find
others: requests for a person ("is there anyone I can actually explain this to", "quiero hablar con alguien
de verdad"), prompt injections, self-harm and threats. The embedding carries the meaning; letter n-grams
carry the words MiniLM barely knows (other languages, misspellings, look-alike spellings). A message is
scored whole and sentence by sentence (one sentence of a long story is diluted in the whole). Each
detector is fitted by a `switchboard eval` command on labelled messages and travels as one JSON file:
weights, threshold and provenance (what it was fitted on, held-out figures).
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from engine.protocols import Vectors

NGRAM_SIZES = (3, 4, 5)
_BLANKS = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
MAX_CHARS = 2000  # a long message is judged on its first 2,000 characters: bounded work per message
MAX_SENTENCES = 8  # and on at most its first and last four sentences besides the whole


def sentences(text: str) -> list[str]:
    """The sentences a request may hide in ("…four lines of story. Can someone call me?"): averaged over a
    whole message, one sentence is diluted by the rest. Empty for a one-sentence message."""
    parts = [part.strip() for part in _SENTENCE_END.split(text[:MAX_CHARS]) if part.strip()]
    if len(parts) < 2:
        return []
    half = MAX_SENTENCES // 2
    return parts if len(parts) <= MAX_SENTENCES else parts[:half] + parts[-half:]


class DetectorError(ValueError):
    """A detector file that cannot be used; the message names the file and what is wrong."""


def ngram_indices(text: str, buckets: int) -> dict[int, float]:
    """Letter n-grams of each word, padded with a blank either side, hashed into `buckets` (crc32: the same
    on every machine and Python), as counts scaled to unit length."""
    counts: dict[int, float] = {}
    for word in _BLANKS.split(text[:MAX_CHARS].lower()):
        if not word:
            continue
        padded = f" {word} "
        for size in NGRAM_SIZES:
            for start in range(max(1, len(padded) - size + 1)):
                gram = padded[start : start + size]
                index = zlib.crc32(gram.encode("utf-8")) % buckets
                counts[index] = counts.get(index, 0.0) + 1.0
    norm = float(np.sqrt(sum(c * c for c in counts.values())))
    return {i: c / norm for i, c in counts.items()} if norm else {}


@lru_cache(maxsize=512)
def _cached_ngrams(text: str, buckets: int) -> tuple[tuple[int, float], ...]:
    """Several detectors score the same texts (the guards: self-harm, threat, injection): hashed once."""
    return tuple(ngram_indices(text, buckets).items())


@dataclass(frozen=True, slots=True)
class MessageDetector:
    embedder: str  # the embedder whose vectors it was fitted on: others give meaningless scores
    dimension: int
    buckets: int
    weights: Vectors  # dimension embedding weights, then one per n-gram bucket
    bias: float
    threshold: float  # a message is flagged when its probability reaches this
    provenance: dict[str, Any] = field(default_factory=dict)

    def probability(self, text: str, vector: Vectors) -> float:
        vector = np.asarray(vector, dtype=np.float32).reshape(-1)
        if vector.shape[0] != self.dimension:
            raise DetectorError(f"expected a {self.dimension}-dimensional embedding, got {vector.shape[0]}")
        z = float(vector @ self.weights[: self.dimension]) + self.bias
        for index, value in _cached_ngrams(text, self.buckets):
            z += value * float(self.weights[self.dimension + index])
        return float(1.0 / (1.0 + np.exp(-z)))

    def flags(self, text: str, vector: Vectors) -> bool:
        return self.probability(text, vector) >= self.threshold

    def save(self, path: Path) -> None:
        data = {
            "embedder": self.embedder,
            "dimension": self.dimension,
            "buckets": self.buckets,
            "ngram_sizes": list(NGRAM_SIZES),
            "bias": self.bias,
            "threshold": self.threshold,  # unrounded: rounding down would flag more than it was chosen for
            "provenance": self.provenance,
            "weights": [round(float(w), 5) for w in self.weights],
        }
        path.write_text(json.dumps(data, separators=(",", ":")) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> MessageDetector:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            model = cls(
                embedder=str(data["embedder"]),
                dimension=int(data["dimension"]),
                buckets=int(data["buckets"]),
                weights=np.asarray([float(w) for w in data["weights"]], dtype=np.float32),
                bias=float(data["bias"]),
                threshold=float(data["threshold"]),
                provenance=dict(data.get("provenance") or {}),
            )
            sizes = tuple(int(n) for n in data["ngram_sizes"])
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DetectorError(f"{path}: not a usable detector ({error})") from None
        if sizes != NGRAM_SIZES or model.buckets < 1 or model.weights.shape[0] != model.dimension + model.buckets:
            raise DetectorError(f"{path}: made for other features; refit it with the `switchboard eval` that made it")
        if not (np.isfinite(model.weights).all() and np.isfinite(model.bias)):
            raise DetectorError(f"{path}: weights that are not finite numbers")
        if not 0.0 < model.threshold < 1.0:
            raise DetectorError(f"{path}: threshold {model.threshold} is not a probability")
        return model


def reusing(known: Mapping[str, Vectors], embed: Callable[[list[str]], Vectors]) -> Callable[[list[str]], Vectors]:
    """`embed`, answering the texts another stage already embedded from `known` (one batch for the rest)."""

    def embed_missing(texts: list[str]) -> Vectors:
        if not texts:
            return embed(texts)
        missing = [text for text in texts if text not in known]
        fresh = dict(zip(missing, embed(missing), strict=True)) if missing else {}
        return np.stack([known[text] if text in known else fresh[text] for text in texts]).astype(np.float32)

    return embed_missing


def flagged_anywhere(
    detectors: Sequence[MessageDetector], text: str, vector: Vectors, embed: Callable[[list[str]], Vectors]
) -> list[bool]:
    """For each detector, whether it flags the whole message or any of its sentences; the sentences are
    embedded (blocking, one batch) only when some detector has not flagged the whole message."""
    found = [detector.flags(text, vector) for detector in detectors]
    parts = sentences(text) if not all(found) else []
    if parts:
        vectors = embed(parts)
        for n, detector in enumerate(detectors):
            found[n] = found[n] or any(detector.flags(p, v) for p, v in zip(parts, vectors, strict=True))
    return found
