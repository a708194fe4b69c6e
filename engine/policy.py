"""Confidence, grounding and escalation: enforced in code, because small models invent answers."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise

from engine.types import Action, Retrieved

_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)?")
_STOPWORDS = frozenset(
    """a about above after again all also am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her
    here hers him his how i if in into is it its just may me might more most must my no nor not now of off on
    once only or other our ours out over own please same she should so some such than that the their theirs
    them then there these they this those through to too under until up very was we were what when where which
    while who whom why will with would you your yours""".split()
)


@dataclass(frozen=True, slots=True)
class IntentSpec:
    name: str
    examples: tuple[str, ...]
    actions: tuple[Action, ...] = ()
    escalate: bool = False  # True: hand over to a person without answering (e.g. "talk to a human")
    response: str = ""  # a fixed reply that needs no knowledge (greetings, thanks)


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    min_relevance: float = 0.35  # passages below this cosine score are not evidence
    strong_relevance: float = 0.65  # at or above this, retrieval support counts as full
    cite_margin: float = 0.1  # cite passages within this of the best score
    max_sources: int = 3
    escalate_below: float = 0.45  # replies under this confidence are handed to a person
    intent_threshold: float = 0.55  # nearest intent example must be at least this similar
    attribution_floor: float = 0.3  # an answer sharing fewer word pairs with every passage is cited by rank


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS and (len(w) > 2 or w.isdigit())]


def numbers_in(text: str) -> set[str]:
    return {w.replace(",", "") for w in _WORD.findall(text.lower()) if any(c.isdigit() for c in w)}


def grounding(answer: str, evidence: Iterable[str]) -> float:
    """Share of the answer's content words found in the evidence; 0 if it states a number the evidence lacks."""
    evidence_text = " ".join(evidence)
    words = content_words(answer)
    if not words:
        return 0.0
    if numbers_in(answer) - numbers_in(evidence_text):
        return 0.0
    vocabulary = set(content_words(evidence_text))
    supported = sum(1 for w in words if w in vocabulary or w.rstrip("s") in vocabulary)
    return supported / len(words)


def retrieval_support(top_score: float, config: PolicyConfig) -> float:
    span = config.strong_relevance - config.min_relevance
    return min(1.0, max(0.0, (top_score - config.min_relevance) / span)) if span > 0 else 1.0


def confidence(top_score: float, grounded: float, config: PolicyConfig) -> float:
    """Both must hold: the knowledge base covers the question and the answer sticks to it."""
    support = retrieval_support(top_score, config)
    return round(math.sqrt(support * grounded), 3)


def evidence(retrieved: Sequence[Retrieved], config: PolicyConfig) -> list[Retrieved]:
    return [hit for hit in retrieved if hit.score >= config.min_relevance]


def _bigrams(text: str) -> set[tuple[str, str]]:
    words = _WORD.findall(text.lower())
    return set(pairwise(words))


def _top_pages(scored: Iterable[tuple[float, Retrieved]], floor: float, max_pages: int) -> list[Retrieved]:
    """Hits scoring at least `floor`, best first, from at most `max_pages` distinct URLs."""
    chosen: list[Retrieved] = []
    urls: set[str] = set()
    for score, hit in sorted(scored, key=lambda pair: pair[0], reverse=True):
        if score < floor:
            break
        if hit.passage.url not in urls and len(urls) >= max_pages:
            continue
        chosen.append(hit)
        urls.add(hit.passage.url)
    return chosen


def attributed(answer: str, candidates: Sequence[Retrieved], config: PolicyConfig) -> list[Retrieved]:
    """The passages the answer was drawn from: most of its word pairs appear in them.

    Retrieval rank says what might answer; overlap with the written answer says what did, so a page
    that merely ranked well is not cited for words it never supplied.
    """
    pairs = _bigrams(answer)
    if not pairs:
        return []
    overlap = [(len(pairs & _bigrams(f"{h.passage.section} {h.passage.text}")) / len(pairs), h) for h in candidates]
    best = max((share for share, _ in overlap), default=0.0)
    if best < config.attribution_floor:
        return []
    return _top_pages(overlap, best * 0.6, config.max_sources)


def cited(retrieved: Sequence[Retrieved], config: PolicyConfig) -> list[Retrieved]:
    """The passages worth showing as sources by rank: relevant, and close to the best match."""
    relevant = evidence(retrieved, config)
    if not relevant:
        return []
    best = max(hit.score for hit in relevant)
    return _top_pages(((hit.score, hit) for hit in relevant), best - config.cite_margin, config.max_sources)
