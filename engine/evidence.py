"""Evidence: which sentences of the retrieved passages answer the message, decided in code.

A small model writes fluently but cannot tell whether passages answer a question, so the choice is made
here: the sentences of the best passages are gathered with their embedding similarity, an evidence judge
scores each (the probability that it answers the message), and the reply is built from the sentences
the judge supports. Their passages are the reply's citations.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from engine.protocols import Vectors
from engine.text import sentences
from engine.types import Evidence, Retrieved

_MARKER = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_TABLE_ROW = re.compile(r"^\s*\|.*\|\s*$")


class SentenceSource(Protocol):
    def passage_sentences(self, passage_id: str) -> tuple[list[str], Vectors | None]:
        """A passage's sentences, with their unit vectors when the index holds them."""
        ...


class EvidenceJudge(Protocol):
    """Blocking and CPU-bound (callers run it off the event loop)."""

    @property
    def name(self) -> str: ...

    def judge(self, question: str, candidates: Sequence[Evidence]) -> list[float]:
        """For each candidate, the probability that its sentence answers the question."""
        ...


def gather(
    query_vector: Vectors,
    retrieved: Sequence[Retrieved],
    source: SentenceSource,
    max_passages: int,
    max_candidates: int,
    min_relevance: float = -1.0,
) -> list[Evidence]:
    """The sentences of the best passages most similar to the message, most similar first.

    A sentence that ends in a colon introduces what follows ("You need:"), so it is kept joined to the
    next sentence; on its own it answers nothing. (Later items of a list are judged on their own, as the
    judge was calibrated; `compose` gives them their lead-in when they are shown.)
    """
    query = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    found: list[Evidence] = []
    for rank, hit in enumerate(retrieved[:max_passages]):
        if hit.score < min_relevance:
            continue
        texts, vectors = source.passage_sentences(hit.passage.passage_id)
        for position, sentence in enumerate(texts):
            if _introduces(sentence) and position + 1 < len(texts):
                continue
            lead = texts[position - 1] if position > 0 and _introduces(texts[position - 1]) else ""
            similarity = float(vectors[position] @ query) if vectors is not None else hit.score
            text = f"{lead}\n{sentence}" if lead else sentence
            found.append(Evidence(hit.passage, text, similarity, hit.score, rank))
    found.sort(key=lambda e: e.similarity, reverse=True)
    return found[:max_candidates]


def _introduces(sentence: str) -> bool:
    """A sentence ending in a colon introduces what follows ("You need:", "We accept:")."""
    return sentence.rstrip().endswith(":")


def lead_in(texts: Sequence[str], position: int) -> str:
    """The colon-ended sentence introducing `texts[position]`: the one just before it, or, for a list
    item, the one before its list's first item (an item that ends in a colon leads the items after it)."""
    before = position - 1
    if _MARKER.match(texts[position]):
        while before >= 0 and _MARKER.match(texts[before]) and not _introduces(texts[before]):
            before -= 1
    return texts[before] if before >= 0 and _introduces(texts[before]) else ""


def choose(evidence: Sequence[Evidence], second_within: float, max_sentences: int) -> list[Evidence]:
    """The best-supported sentence, and the next ones while the judge supports them nearly as well
    (a message often needs two facts: a fee and a time limit, a step and where to find it)."""
    ranked = sorted(evidence, key=lambda e: e.support, reverse=True)
    if not ranked:
        return []
    chosen = [ranked[0]]
    for candidate in ranked[1:max_sentences]:
        if candidate.support >= ranked[0].support - second_within and candidate.sentence not in chosen[0].sentence:
            chosen.append(candidate)
    return _in_page_order(chosen)


def _in_page_order(chosen: list[Evidence]) -> list[Evidence]:
    """Sentences of one passage read in the page's order; passages in the order the judge ranked them."""
    order = {id(e): n for n, e in enumerate(chosen)}
    first_of_passage: dict[str, int] = {}
    for n, e in enumerate(chosen):
        first_of_passage.setdefault(e.passage.passage_id, n)

    def key(e: Evidence) -> tuple[int, int]:
        position = e.passage.text.find(e.sentence.splitlines()[-1])
        return first_of_passage[e.passage.passage_id], position if position >= 0 else order[id(e)]

    return sorted(chosen, key=key)


def plain(sentence: str) -> str:
    """A sentence as it reads on its own: no list bullet or number, table pipes as separators."""
    lines = []
    for line in sentence.splitlines():
        if _TABLE_ROW.match(line):
            line = " · ".join(cell.strip() for cell in line.strip().strip("|").split("|") if cell.strip())
        lines.append(_MARKER.sub("", line).strip())
    return "\n".join(line for line in lines if line)


def compose(chosen: Sequence[Evidence]) -> str:
    """The reply built from the chosen sentences, verbatim: every fact in it is the help centre's own.
    A list item comes with the sentence that introduces its list ("We accept:" before "PayPal;"), written
    once for items of one list."""
    lines = [line for e in chosen for line in plain(introduced(e)).splitlines()]
    return "\n".join(dict.fromkeys(lines))


def introduced(evidence: Evidence) -> str:
    """A list item's sentence with its list's lead-in before it, when it does not carry one already."""
    sentence = evidence.sentence
    if "\n" in sentence or not _MARKER.match(sentence):
        return sentence
    texts = sentences(evidence.passage.text)
    if sentence not in texts:
        return sentence
    lead = lead_in(texts, texts.index(sentence))
    return f"{lead}\n{sentence}" if lead else sentence
