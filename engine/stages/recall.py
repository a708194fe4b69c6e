"""Recall and remember: the conversation's history in the memory store."""

from __future__ import annotations

from engine.protocols import EventSink, MemoryStore
from engine.types import HistoryEntry, Turn


class Recall:
    def __init__(self, memory: MemoryStore, max_entries: int) -> None:
        self.memory = memory
        self.max_entries = max_entries

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        history = await self.memory.history(turn.message.conversation, self.max_entries)
        return turn.evolve(history=tuple(history))


class Remember:
    def __init__(self, memory: MemoryStore) -> None:
        self.memory = memory

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        if turn.reply is not None:
            await self.memory.append(
                turn.message.conversation,
                [HistoryEntry("user", turn.message.text), HistoryEntry("assistant", turn.reply.text)],
            )
        return turn
