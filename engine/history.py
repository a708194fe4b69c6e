"""The recent part of a conversation's history: what the assistant reads with a new message, and what an
agent taking a hand-over reads of how the customer got there."""

from __future__ import annotations

import time

from engine.protocols import MemoryStore
from engine.types import ConversationRef, HistoryEntry


async def recent(
    memory: MemoryStore, conversation: ConversationRef, entries: int, idle_s: float
) -> tuple[HistoryEntry, ...]:
    """The conversation's last `entries` entries; none when it was left idle longer than `idle_s` (a new
    topic days later is not a follow-up of an old question). Raises StoreUnavailable."""
    history = await memory.history(conversation, entries)
    if history and time.time() - history[-1].at > idle_s:
        return ()
    return tuple(history)
