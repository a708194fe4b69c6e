"""Intents and the answer policy: what is answered, from what, and when a person takes over.

Decisions are made in code from measurable signals (the evidence judge's calibrated support), because
a small model writes well but cannot tell whether the passages it was given answer the question.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from engine.text import content_words, numbers_in
from engine.types import Action


@dataclass(frozen=True, slots=True)
class IntentSpec:
    name: str
    examples: tuple[str, ...]
    actions: tuple[Action, ...] = ()
    escalate: bool = False  # True: hand over to a person without answering (e.g. "talk to a human")
    response: str = ""  # a fixed reply that needs no knowledge (greetings, thanks)
    # the same reply in other languages (engine/language.py codes), chosen by the language of the turn
    translations: tuple[tuple[str, str], ...] = ()
    courtesy: str = ""  # "greeting" | "thanks": also any message that is only that, in any reply language
    patterns: tuple[re.Pattern[str], ...] = ()  # any match names this intent outright, before similarity
    # a message in another language than English names this intent when it uses words of every category of
    # one of these groups (engine/cues.py): (("order", "status"),) for "¿dónde está mi pedido?"
    cues: tuple[tuple[str, ...], ...] = ()

    def response_in(self, language: str) -> tuple[str, str]:
        """The fixed reply for a turn in `language`, and the language it is written in ("" when the
        operator did not say: the single `response`)."""
        written = dict(self.translations)
        if language in written:
            return written[language], language
        return self.response, next((lang for lang, text in self.translations if text == self.response), "")


def answers_itself(spec: IntentSpec | None) -> bool:
    """A hand-over or a fixed reply: nothing is searched, judged or written for it."""
    return spec is not None and (spec.escalate or bool(spec.response))


@dataclass(frozen=True, slots=True)
class PolicyConfig:
    answer_threshold: float = 0.81  # answer when the judge's best support reaches this; else hand over
    suggest_threshold: float = 0.6  # below the answer threshold, down to this: hand over with the closest sentences
    min_relevance: float = 0.2  # passages below this cosine are not even candidates
    follow_up_below: float = 0.5  # a message matching no passage this well is read with the previous question
    second_within: float = 0.3  # add the next-best sentences while their support is within this of the best
    max_sentences: int = 3  # sentences in an answer built from the help centre's own words
    max_sources: int = 3
    intent_threshold: float = 0.55  # nearest intent example must be at least this similar
    # segments that answer at their own thresholds: (segment name, suggest threshold, answer threshold)
    by_segment: tuple[tuple[str, float, float], ...] = ()

    def thresholds(self, segment: str = "") -> tuple[float, float]:
        """(suggest, answer) for a turn of `segment` ("" or a segment without its own: the policy's)."""
        for name, suggest, answer in self.by_segment:
            if name == segment:
                return suggest, answer
        return self.suggest_threshold, self.answer_threshold

    def answers(self, answerability: float, segment: str = "") -> bool:
        return answerability >= self.thresholds(segment)[1]

    def suggests(self, answerability: float, segment: str = "") -> bool:
        suggest, answer = self.thresholds(segment)
        return suggest <= answerability < answer


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
