"""The guard stages: what a message may not do, what a retrieved page may not carry, and what a reply
may not say.

- `GuardInput` (after redaction): a prompt injection a rule names gets a polite refusal with "Talk to a
  human" (one only the learned detector finds is handed to a person unanswered: it is less certain);
  self-harm gets a caring reply and a person; a threat is handed to people; all three settle the reply
  (the answering stages are skipped) and are counted. Each is found by its rules or by its learned
  detector (`detectors.py`), whichever fires. Abuse is only flagged: an answer found is still
  given, and a hand-over is worded calmly (`GuardOutput`).
- `QuarantinePassages` (after retrieval): passages carrying instructions never reach the prompt.
- `GuardOutput` (after the reply is decided): a reply that is profane or shows the system prompt or a
  secret is never sent; the customer gets a hand-over instead. `screen` is the same check for the
  model's streamed sentences (Generate holds each back until it passes).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache
from typing import Protocol

from engine.generation.prompts import SYSTEM_PROMPT
from engine.protocols import EventSink, StoreUnavailable
from engine.replies import escalate_action, handover_text, reply_text
from engine.text import restore
from engine.types import Passage, Reply, Retrieved, Turn
from safety.detectors import GuardDetectors
from safety.harm_languages import caring_language, caring_reply
from safety.injection import InjectionDetector
from safety.threat_languages import threat_language
from safety.toxicity import ToxicityDetector

log = logging.getLogger(__name__)

# English, for operators and tests; every fixed reply is written in each language of engine/data/replies.json
INJECTION_TEXT = reply_text("injection", company="{company}")
SELF_HARM_TEXT = (
    "I'm really sorry you're feeling this way, and I'm glad you told me. You don't have to face this alone: "
    "if you might act on these thoughts, please call your local emergency number now, or reach a crisis line "
    "(in the US and Canada call or text 988; in the UK and Ireland call Samaritans on 116 123). "
    "I've also asked a member of our team to reach out to you here."
)
UNSAFE_OUTPUT_TEXT = reply_text("unsafe_output")
SECRETS = re.compile(r"xox[abpr]-|xapp-|SWITCHBOARD_[A-Z_]+|SLACK_[A-Z_]+|REDIS_URL|api_token|BEGIN [A-Z ]*KEY")
_WORD = re.compile(r"[a-z']+")
_SENTENCES = re.compile(r"(?<=[.!?\n])\s+")


class SafetyCounter(Protocol):
    async def count(self, kind: str) -> None: ...


def _shingles(text: str, size: int = 6) -> set[tuple[str, ...]]:
    words = _WORD.findall(text.casefold())
    return {tuple(words[i : i + size]) for i in range(len(words) - size + 1)}


# the instructions' fixed wording (without the per-answer extract): six words of it in a reply is a leak
PROMPT_SHINGLES = set().union(*(_shingles(part) for part in re.split(r"\{[a-z_]+\}", SYSTEM_PROMPT)))


class GuardInput:
    def __init__(
        self,
        injection: InjectionDetector,
        toxicity: ToxicityDetector,
        counter: SafetyCounter | None = None,
        company: str = "our store",
        detectors: GuardDetectors | None = None,
    ) -> None:
        self.injection, self.toxicity, self.counter, self.company = injection, toxicity, counter, company
        self.detectors = detectors

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        text = turn.message.text
        harm = self.toxicity.check(text)
        learned: str | None = None
        # a click's text is its button's label, ours: the detectors judge what people write
        if harm not in ("self_harm", "threat") and self.detectors is not None and not turn.message.action:
            learned, vector, parts = await asyncio.to_thread(self.detectors.check, text)
            turn = turn.evolve(  # Understand reuses them
                embedded=(text, tuple(float(x) for x in vector)),
                embedded_sentences=tuple((part, tuple(float(x) for x in v)) for part, v in parts),
            )
            if learned in ("self_harm", "threat"):
                harm = learned
                log.info("message %s: %s found by its detector", turn.message.message_id, learned)
        if harm in ("self_harm", "threat"):
            await self._count(harm)
            if harm == "self_harm":
                cared_in = caring_language(text) or "en"
                cared = caring_reply(text, SELF_HARM_TEXT, turn.way_back)
                return self._settle(turn, cared, harm, escalated=True, language=cared_in)
            # a short threat tells its language by its own form ("te voy a matar") where the words alone do not
            said_in = threat_language(text) or turn.speaks
            return self._settle(turn, reply_text("threat", said_in), harm, escalated=True, language=said_in)
        # also under an insult (abuse must not switch this check off), and on the text as written: a
        # placeholder can swallow the keyword ("<NAME_1> Instrucciones Anteriores"); only the rule is logged
        rule = self.injection.check(text)
        if rule is None and turn.vault:
            rule = self.injection.check(restore(text, turn.vault))
        if rule is not None:
            await self._count("injection")
            log.warning("message %s blocked as a prompt injection (%s)", turn.message.message_id, rule)
            refusal = reply_text("injection", turn.speaks, company=self.company)
            return self._settle(turn, refusal, "injection", escalated=False)
        if learned == "injection":
            # only the detector: likely an attack, but it also takes some pasted configs, forwarded e-mails and
            # questions about a product's own AI feature for one. Nothing of it reaches a model or a tool, and
            # a person reads it: an attacker gains nothing, a customer still gets an answer.
            await self._count("injection")
            log.warning("message %s held for a person as a likely prompt injection (detector)", turn.message.message_id)
            held = handover_text("likely_injection", turn.way_back, turn.speaks)
            return self._settle(turn, held, "injection", escalated=True)
        if harm == "abuse":
            await self._count("abuse")
            return turn.evolve(flags=(*turn.flags, "abuse"))
        return turn

    def _settle(self, turn: Turn, text: str, kind: str, escalated: bool, language: str = "") -> Turn:
        reply = fixed_reply(turn, text, kind, kind, escalated, 1.0, language or turn.speaks)
        return turn.evolve(reply=reply, settled=True, flags=(*turn.flags, kind))

    async def _count(self, kind: str) -> None:
        if self.counter is None:
            return
        try:
            await self.counter.count(kind)
        except StoreUnavailable:
            log.warning("could not count a %s guard event: Redis unavailable", kind)


def fixed_reply(
    turn: Turn, text: str, intent: str, reason: str, escalated: bool, confidence: float, language: str
) -> Reply:
    """A reply in our own words (a refusal, a hand-over), with the "talk to a human" button in its language."""
    return Reply(
        text,
        (),
        (escalate_action(language),),
        confidence,
        intent,
        turn.message.user_role,
        escalated,
        reason=reason,
        language=language,
    )


class QuarantinePassages:
    """Retrieved passages that carry instructions are dropped before anything reads them."""

    def __init__(self, injection: InjectionDetector, remember: int = 4096) -> None:
        # the same passages come back for message after message: each is read once
        self.check = lru_cache(maxsize=remember)(injection.check_document)

    def _kept(self, retrieved: tuple[Retrieved, ...]) -> tuple[Retrieved, ...]:
        kept = []
        for found in retrieved:
            rule = self.check(found.passage.text)
            if rule is None:
                kept.append(found)
            else:
                log.warning("quarantined a passage of %s: it carries instructions (%s)", found.passage.url, rule)
        return tuple(kept)

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        kept = self._kept(turn.retrieved)
        # a follow-up's own search too (Weigh may keep it instead of the joined one)
        alone = None if turn.alone is None else (self._kept(turn.alone[0]), turn.alone[1])
        if kept == turn.retrieved and alone == turn.alone:
            return turn
        return turn.evolve(retrieved=kept, alone=alone, flags=(*turn.flags, "quarantined"))


def flag_injected(passages: Sequence[Passage], injection: InjectionDetector) -> int:
    """At ingest: names the pages that carry instructions (they are quarantined whenever retrieved)."""
    flagged = 0
    for passage in passages:
        rule = injection.check_document(passage.text)
        if rule is not None:
            flagged += 1
            log.warning("%s carries instructions (%s): it will never reach a prompt", passage.url, rule)
    return flagged


class GuardOutput:
    def __init__(self, toxicity: ToxicityDetector) -> None:
        self.toxicity = toxicity

    def screen(self, text: str) -> bool:
        """True when `text` may be shown: no profane sentence (judged one by one: a long reply would dilute
        the score), no piece of the instructions, no secret."""
        if _shingles(text) & PROMPT_SHINGLES or SECRETS.search(text):
            return False
        return not any(self.toxicity.profane(sentence) for sentence in _SENTENCES.split(text) if sentence.strip())

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        reply = turn.reply
        if reply is None:
            return turn
        if not self.screen(reply.text):
            log.warning("the reply to message %s failed the output check; a person takes over", turn.message.message_id)
            text = handover_text("unsafe_output", turn.way_back, turn.speaks)
            return turn.evolve(reply=fixed_reply(turn, text, reply.intent, "unsafe_output", True, 0.0, turn.speaks))
        if "abuse" in turn.flags and reply.escalated:
            calm = handover_text("calm_handover", turn.way_back, turn.speaks)
            return turn.evolve(reply=replace(reply, text=calm, language=turn.speaks))
        return turn
