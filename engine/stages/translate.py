"""TranslateQuery: a message in another language than the help centre's English is searched and judged in
English (engine/translation.py); the customer's own words stay the message, for history and hand-over."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator

from engine.language import detect_language
from engine.policy import IntentSpec, answers_itself
from engine.protocols import EventSink, GenerationParams, GenerationUnavailable, Generator, PromptTooLong
from engine.translation import MAX_NEW_TOKENS, checked_translation, translation_prompt
from engine.types import Turn

log = logging.getLogger(__name__)


class TranslateQuery:
    def __init__(self, generator: Generator, intents: dict[str, IntentSpec], timeout_s: float = 15.0) -> None:
        self.generator = generator
        self.intents = intents
        self.timeout_s = timeout_s  # past this (the model busy), the message is searched as written
        self.params = GenerationParams(max_new_tokens=MAX_NEW_TOKENS, temperature=0.0)

    def wanted(self, turn: Turn) -> bool:
        if answers_itself(self.intents.get(turn.intent)):
            return False
        # the message's own language, not the conversation's or a fixed reply language: "ok" or an English
        # question in a Spanish conversation needs no translation
        return not turn.message.action and detect_language(turn.message.text) not in (None, "en")

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        if not self.wanted(turn):
            return turn
        text = turn.message.text
        try:
            async with asyncio.timeout(self.timeout_s):
                output = await self._generate(text)
        except (TimeoutError, GenerationUnavailable, PromptTooLong) as error:
            log.warning("searching the message untranslated: %s", type(error).__name__)
            return turn
        english = checked_translation(text, output)
        if english is None:
            log.info("searching the message untranslated: the model's translation did not pass the checks")
            return turn
        # Understand's vector is of the customer's words: Retrieve embeds the translation instead
        return turn.evolve(query=english, query_vector=())

    async def _generate(self, text: str) -> str:
        output = ""
        deltas = aiter(self.generator.stream(translation_prompt(text), self.params))
        try:
            async for delta in deltas:
                output += delta
                if output.count("\n") > 1:
                    break  # more than one line is not a translation: stop paying for it
        finally:
            if isinstance(deltas, AsyncGenerator):
                await deltas.aclose()
        return output
