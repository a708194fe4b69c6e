"""Recall and remember: the conversation's history in the memory store.

A memory store that is down costs the conversation its context, never the reply: Recall answers without
history, and Remember retries the write in the background.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from engine.handover import BackgroundRetries, write_or_retry
from engine.history import recent
from engine.language import reply_language
from engine.protocols import EventSink, MemoryStore, StoreUnavailable
from engine.types import HistoryEntry, Turn

log = logging.getLogger(__name__)


class Recall:
    """Reads the conversation's last `read_entries` entries (user and assistant alike).

    A conversation left idle longer than `idle_s` starts afresh: a new topic days later is not read as
    a follow-up of an old question (REST and `ask` without a conversation id share one per user).
    A message whose language cannot be told ("ok", "agente por favor") is answered in the language of the
    customer's latest message that can.
    """

    def __init__(self, memory: MemoryStore, read_entries: int, idle_s: float = 1800.0) -> None:
        self.memory = memory
        self.read_entries = read_entries
        self.idle_s = idle_s

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        try:
            history = await recent(self.memory, turn.message.conversation, self.read_entries, self.idle_s)
        except StoreUnavailable:
            log.warning("memory unavailable for message %s; answering without history", turn.message.message_id)
            return turn
        if not history:
            return turn
        return turn.evolve(history=history, language=turn.language or _language_of(history))


def _language_of(history: Sequence[HistoryEntry]) -> str:
    """The language of the customer's latest message that tells one (the bot's own words do not count)."""
    for entry in reversed(history):
        # "[a message refused …]", "[message not kept …]": our markers standing in for what was said
        if entry.role == "user" and not (entry.text.startswith("[") and entry.text.endswith("]")):
            told = reply_language(entry.text, default="")
            if told:
                return told
    return ""


WITHHELD_INJECTION = "[a message refused as an instruction to the assistant]"


class Remember:
    after_reply = True  # runs also when a guard settled the reply

    def __init__(self, memory: MemoryStore, retries: BackgroundRetries) -> None:
        self.memory = memory
        self.retries = retries

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        if turn.reply is None:
            return turn
        conversation = turn.message.conversation
        # a refused instruction is not kept word for word: history is read back into later prompts
        said = WITHHELD_INJECTION if "injection" in turn.flags else turn.message.text
        entries = [HistoryEntry("user", said), HistoryEntry("assistant", turn.reply.text)]

        async def write() -> None:
            await self.memory.append(conversation, entries)

        await write_or_retry(write, self.retries, "history", turn.message.message_id)
        return turn
