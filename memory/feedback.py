"""Feedback on replies (👍 / 👎), under the voter's keys so export and erasure find it; one vote per reply."""

from __future__ import annotations

import json
import time
from urllib.parse import quote

from redis.asyncio import Redis

from engine.types import ConversationRef
from memory.store import unavailable_as_store_error

VOTES = ("up", "down")


class RedisFeedbackStore:
    def __init__(self, client: Redis, prefix: str = "sb", ttl_seconds: int = 365 * 86400) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds

    def _key(self, user_id: str, message_id: str) -> str:
        return f"{self.prefix}:user:{quote(user_id, safe='')}:feedback:{quote(message_id, safe='')}"

    async def record(self, conversation: ConversationRef, message_id: str, vote: str) -> bool:
        """False when this user already voted on this reply (the first vote stands)."""
        if vote not in VOTES:
            raise ValueError(f"vote must be one of {VOTES}")
        if not message_id:
            raise ValueError("feedback needs the reply's message id")
        record = {
            "message_id": message_id,
            "channel": conversation.channel,
            "conversation_id": conversation.conversation_id,
            "user_id": conversation.user_id,
            "vote": vote,
            "at": time.time(),
        }
        async with unavailable_as_store_error():
            stored = await self.client.set(
                self._key(conversation.user_id, message_id), json.dumps(record), nx=True, ex=self.ttl_seconds
            )
        return bool(stored)

    async def get(self, user_id: str, message_id: str) -> dict[str, object] | None:
        async with unavailable_as_store_error():
            raw = await self.client.get(self._key(user_id, message_id))
        return None if raw is None else dict(json.loads(raw))
