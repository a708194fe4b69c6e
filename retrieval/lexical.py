"""BM25 over passages: catches exact terms (product names, "express", "bitcoin") that embeddings blur."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence

from engine.text import stem, terms
from engine.types import Passage

__all__ = ["BM25", "stem", "terms"]


class BM25:
    def __init__(self, documents: Sequence[str], k1: float = 1.2, b: float = 0.75) -> None:
        self.k1, self.b = k1, b
        self._postings: defaultdict[str, list[tuple[int, int]]] = defaultdict(list)
        self._lengths: list[int] = []
        for doc_id, document in enumerate(documents):
            counts = Counter(terms(document))
            self._lengths.append(sum(counts.values()))
            for term, count in counts.items():
                self._postings[term].append((doc_id, count))
        self._average = (sum(self._lengths) / len(self._lengths)) if self._lengths else 0.0

    @classmethod
    def over(cls, passages: Sequence[Passage]) -> BM25:
        return cls([f"{p.title} {p.section} {p.text}" for p in passages])

    def scores(self, query: str) -> dict[int, float]:
        total = len(self._lengths)
        result: defaultdict[int, float] = defaultdict(float)
        for term in set(terms(query)):
            postings = self._postings.get(term)
            if not postings:
                continue
            idf = math.log(1 + (total - len(postings) + 0.5) / (len(postings) + 0.5))
            for doc_id, count in postings:
                norm = self.k1 * (1 - self.b + self.b * self._lengths[doc_id] / self._average)
                result[doc_id] += idf * count * (self.k1 + 1) / (count + norm)
        return dict(result)
