"""Recall and remember: the conversation's history in the memory store.

A memory store that is down costs the conversation its context, never the reply: Recall answers without
history, and Remember retries the write in the background.
"""

from __future__ import annotations

import logging
import time

from engine.handover import BackgroundRetries, write_or_retry
from engine.protocols import EventSink, MemoryStore, StoreUnavailable
from engine.types import HistoryEntry, Turn

log = logging.getLogger(__name__)


class Recall:
    """Reads the conversation's last `read_entries` entries (user and assistant alike).

    A conversation left idle longer than `idle_s` starts afresh: a new topic days later is not read as
    a follow-up of an old question (REST and `ask` without a conversation id share one per user).
    """

    def __init__(self, memory: MemoryStore, read_entries: int, idle_s: float = 1800.0) -> None:
        self.memory = memory
        self.read_entries = read_entries
        self.idle_s = idle_s

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        try:
            history = await self.memory.history(turn.message.conversation, self.read_entries)
        except StoreUnavailable:
            log.warning("memory unavailable for message %s; answering without history", turn.message.message_id)
            return turn
        if history and time.time() - history[-1].at > self.idle_s:
            return turn
        return turn.evolve(history=tuple(history))


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
