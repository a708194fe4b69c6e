"""Per-user conversation memory in Redis (one async code path for a server or the embedded default).

Keys: {prefix}:user:{user}:conv:{channel}:{conversation}:history — each part percent-encoded, so no
user id can reach into another user's keys, and the user comes first so one SCAN finds all of a
user's data when it must be erased.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from urllib.parse import quote

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from engine.protocols import StoreUnavailable
from engine.types import ConversationRef, HistoryEntry

log = logging.getLogger(__name__)


class RedisUnavailableError(RuntimeError):
    """Redis did not answer at start-up; the message never holds the URL's password."""


@contextlib.asynccontextmanager
async def unavailable_as_store_error() -> AsyncIterator[None]:
    """Connection trouble and timeouts become the engine's StoreUnavailable (stages degrade on it)."""
    try:
        yield
    except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as error:
        raise StoreUnavailable(f"Redis is unavailable: {type(error).__name__}") from error


def _part(value: str) -> str:
    return quote(value, safe="")


# deletes KEYS[1] only while it still holds ARGV[1]: a lease or claim is ended by its holder alone
DELETE_IF_HELD = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0"


def user_key(prefix: str, user_id: str) -> str:
    """Where everything of one user lives: `{prefix}:user:{user}` (export and erasure scan under it)."""
    return f"{prefix}:user:{_part(user_id)}"


class RedisMemoryStore:
    def __init__(
        self,
        client: Redis,
        prefix: str = "sb",
        max_entries: int = 40,
        ttl_seconds: int = 30 * 24 * 3600,
        max_entry_chars: int = 8000,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.max_entries = max_entries
        self.ttl_seconds = ttl_seconds
        self.max_entry_chars = max_entry_chars

    def user_prefix(self, user_id: str) -> str:
        return f"{self.prefix}:user:{_part(user_id)}:"

    def history_key(self, conversation: ConversationRef) -> str:
        return (
            f"{self.user_prefix(conversation.user_id)}conv:{_part(conversation.channel)}:"
            f"{_part(conversation.conversation_id)}:history"
        )

    async def history(self, conversation: ConversationRef, limit: int) -> list[HistoryEntry]:
        if limit <= 0:
            return []
        async with unavailable_as_store_error():
            raw = await self.client.lrange(self.history_key(conversation), -limit, -1)
        entries: list[HistoryEntry] = []
        for item in raw:
            try:
                data = json.loads(item)
                entries.append(
                    HistoryEntry(role=str(data["role"]), text=str(data["text"]), at=float(data.get("at", 0.0)))
                )
            except (ValueError, KeyError, TypeError):
                log.warning("skipping an unreadable history entry")
        return entries

    async def append(self, conversation: ConversationRef, entries: Sequence[HistoryEntry]) -> None:
        if not entries:
            return
        key = self.history_key(conversation)
        payload = [
            json.dumps(
                {"role": e.role, "text": e.text[: self.max_entry_chars], "at": e.at or time.time()}, ensure_ascii=False
            )
            for e in entries
        ]
        async with unavailable_as_store_error(), self.client.pipeline(transaction=True) as pipe:
            pipe.rpush(key, *payload)
            pipe.ltrim(key, -self.max_entries, -1)
            pipe.expire(key, self.ttl_seconds)
            await pipe.execute()

    async def forget_user(self, user_id: str) -> int:
        """Erase everything stored for a user; returns the number of keys removed."""
        removed = 0
        async for key in self.client.scan_iter(match=f"{self.user_prefix(user_id)}*", count=500):
            removed += int(await self.client.delete(key))
        return removed

    async def ping(self) -> bool:
        try:
            return bool(await self.client.ping())
        except (redis_errors.RedisError, OSError):
            return False


async def shared_secret(client: Redis, prefix: str, name: str) -> bytes:
    """A random key made once and kept in Redis, so every process using it signs alike (and a restart
    keeps what was signed valid): for secrets the admin did not set in the environment."""
    key = f"{prefix}:secret:{name}"
    async with unavailable_as_store_error():
        await client.set(key, secrets.token_urlsafe(32), nx=True)
        stored = await client.get(key)
    return str(stored).encode()
