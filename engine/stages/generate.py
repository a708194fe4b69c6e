"""Generate: the answer, built from the sentences the evidence judge chose, streamed.

`extract` sends those sentences verbatim (every fact is the help centre's own words); `compose` lets the
model rephrase them for the customer and keeps its text only when it states nothing the sentences do not
(otherwise the verbatim sentences are the final reply, which channels show in place of the stream).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace
from typing import Literal

from engine.evidence import choose, compose
from engine.generation.prompts import build_messages
from engine.policy import IntentSpec, PolicyConfig, answers_itself, grounding
from engine.protocols import EventSink, GenerationParams, GenerationUnavailable, Generator, PromptTooLong
from engine.replies import reply_text
from engine.segments import Segment, Segments
from engine.text import numbers_in
from engine.types import Evidence, TokenStats, Turn

Mode = Literal["extract", "compose"]
_PIECE = re.compile(r"\S+\s*")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Persona:
    company: str = "our store"
    assistant_name: str = "Switchboard"


class Generate:
    def __init__(
        self,
        generator: Generator | None,
        params: GenerationParams,
        policy: PolicyConfig,
        intents: dict[str, IntentSpec],
        persona: Persona,
        mode: Mode = "extract",
        screen: Callable[[str], bool] | None = None,
        segments: Segments | None = None,
    ) -> None:
        if mode == "compose" and generator is None:
            raise ValueError("compose mode needs a generator")
        self.generator = generator
        self.params = params
        self.policy = policy
        self.intents = intents
        self.persona = persona
        self.mode = mode
        # the model's text is shown sentence by sentence once `screen` passes it (True: safe to show);
        # the first sentence that fails stops the stream, and the final reply replaces what was shown
        self.screen = screen
        self.segments = segments

    def should_answer(self, turn: Turn) -> bool:
        if answers_itself(self.intents.get(turn.intent)):
            return False  # a request for a person, or a fixed reply (greetings): nothing to write
        return bool(turn.evidence) and self.policy.answers(turn.answerability, turn.segment)

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        segment = self.segments.of(turn.message) if self.segments is not None else None
        return await self._answer(turn.evolve(segment=segment.name) if segment else turn, events, segment)

    async def _answer(self, turn: Turn, events: EventSink, segment: Segment | None) -> Turn:
        if (
            turn.evidence
            and not answers_itself(self.intents.get(turn.intent))
            and self.policy.suggests(turn.answerability, turn.segment)
        ):
            # Not sure enough to answer: Decide hands over and shows these sentences as the closest found.
            chosen = tuple(choose(turn.evidence, self.policy.second_within, self.policy.max_sentences))
            # asked in another language: the closest sentences are said to be the help centre's English
            lead = reply_text("in_english_closest", turn.speaks) + "\n" if turn.query else ""
            return turn.evolve(chosen=chosen, draft=lead + compose(chosen))
        if not self.should_answer(turn):
            return turn
        chosen = tuple(choose(turn.evidence, self.policy.second_within, self.policy.max_sentences))
        if turn.query:  # asked in another language: the help centre's English, said to be so in theirs
            lead = reply_text("in_english", turn.speaks) + "\n\n"
            await events.token(lead)
            answered = await self._write(turn.evolve(chosen=chosen), events, segment)
            return answered.evolve(draft=lead + answered.draft)
        return await self._write(turn.evolve(chosen=chosen), events, segment)

    async def _write(self, turn: Turn, events: EventSink, segment: Segment | None) -> Turn:
        chosen = turn.chosen
        verbatim = compose(chosen)
        if self.mode == "extract" or self.generator is None:
            for piece in _PIECE.findall(verbatim):
                await events.token(piece)
            return turn.evolve(chosen=chosen, draft=verbatim)
        # A follow-up goes to the model joined to its earlier question, as it was searched.
        messages = build_messages(
            turn.question,
            chosen,
            company=self.persona.company,
            assistant_name=self.persona.assistant_name,
            tone=segment.tone if segment else "",
        )
        params = replace(self.params, adapter=segment.adapter) if segment and segment.adapter else self.params
        await events.status(reply_text("writing", turn.speaks))
        draft = ""
        shown = HeldBack(events, self.screen)
        stats: list[TokenStats] = []
        try:
            # closed here, not when collected: a remote request or the local model stops at once
            deltas = aiter(self.generator.stream(messages, params, stats.append))
            try:
                async for delta in deltas:
                    draft += delta
                    await shown.add(delta)
            finally:
                if isinstance(deltas, AsyncGenerator):
                    await deltas.aclose()
            await shown.end()
        except PromptTooLong as error:  # nothing was streamed: the verbatim sentences answer instead
            log.warning("answering with the verbatim sentences: %s", error)
            return turn.evolve(chosen=chosen, draft=verbatim)
        except GenerationUnavailable as error:  # the final reply (authoritative) replaces what was streamed
            log.error("the model is unavailable, answering with the verbatim sentences: %s", error)
            return turn.evolve(chosen=chosen, draft=verbatim)
        draft = draft.strip()
        best = max(chosen, key=lambda e: e.support)
        if not faithful(draft, chosen, best):
            return turn.evolve(chosen=chosen, draft=verbatim)
        adapter = params.adapter or ""
        return turn.evolve(chosen=chosen, draft=draft, token_stats=stats[-1] if stats else None, adapter=adapter)


_SENTENCE_END = re.compile(r"[.!?\n](?=\s)")


class HeldBack:
    """Forwards streamed text a sentence at a time, each only after `screen` passed it."""

    def __init__(self, events: EventSink, screen: Callable[[str], bool] | None) -> None:
        self.events, self.screen = events, screen
        self.pending = ""
        self.blocked = False

    async def add(self, delta: str) -> None:
        if self.screen is None:
            await self.events.token(delta)
            return
        self.pending += delta
        while not self.blocked and (end := _SENTENCE_END.search(self.pending)) is not None:
            sentence, self.pending = self.pending[: end.end()], self.pending[end.end() :]
            await self._release(sentence)

    async def end(self) -> None:
        if self.screen is not None and self.pending and not self.blocked:
            await self._release(self.pending)
        self.pending = ""

    async def _release(self, text: str) -> None:
        if self.screen is not None and not self.screen(text):
            self.blocked = True  # nothing after it is shown either
            return
        await self.events.token(text)


def faithful(draft: str, chosen: tuple[Evidence, ...], best: Evidence) -> bool:
    """The model's wording is kept only if it adds nothing and keeps the best sentence's numbers."""
    sentences = [e.sentence for e in chosen]
    return bool(draft) and grounding(draft, sentences) >= 0.75 and numbers_in(best.sentence) <= numbers_in(draft)
