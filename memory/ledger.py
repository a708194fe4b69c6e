"""The ingress ledger in Redis: one key per inbound event, `processing` (a lease) or `done` (kept longer).

A claim is `SET NX` with the lease as expiry: a retry that arrives while the first delivery is being
answered, or after it was answered, finds the key and is dropped; a retry after the processing process
died finds the lease expired and is processed again.
"""

from __future__ import annotations

from urllib.parse import quote

from redis.asyncio import Redis

from memory.store import unavailable_as_store_error

PROCESSING = "processing"
DONE = "done"


class RedisIngressLedger:
    def __init__(self, client: Redis, prefix: str = "sb", lease_s: float = 120, keep_s: float = 86400) -> None:
        if lease_s <= 0 or keep_s <= 0:
            raise ValueError("lease_s and keep_s must be positive")
        self.client = client
        self.prefix = prefix
        self.lease_ms = int(lease_s * 1000)
        self.keep_ms = int(keep_s * 1000)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:ledger:{quote(key, safe='')}"

    async def claim(self, key: str) -> bool:
        async with unavailable_as_store_error():
            return bool(await self.client.set(self._key(key), PROCESSING, nx=True, px=self.lease_ms))

    def _note_key(self, key: str) -> str:
        return f"{self.prefix}:ledger-note:{quote(key, safe='')}"

    async def done(self, key: str) -> None:
        async with unavailable_as_store_error():
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.set(self._key(key), DONE, px=self.keep_ms)
                pipe.delete(self._note_key(key))
                await pipe.execute()

    async def note(self, key: str, value: str) -> None:
        # kept while retries may come (the lease's worth of them, at most the record's life); it may hold a
        # reply being sent, so it never outlives the event's own record
        async with unavailable_as_store_error():
            await self.client.set(self._note_key(key), value, px=min(self.keep_ms, max(self.lease_ms * 30, 3_600_000)))

    async def noted(self, key: str) -> str | None:
        async with unavailable_as_store_error():
            value = await self.client.get(self._note_key(key))
        return None if value is None else str(value)

    async def release(self, key: str) -> None:
        async with unavailable_as_store_error():
            await self.client.delete(self._key(key))

    async def state(self, key: str) -> str | None:
        async with unavailable_as_store_error():
            value = await self.client.get(self._key(key))
        return None if value is None else str(value)


class RedisThreadRegistry:
    """Slack threads the bot has answered in (follow-ups there need no mention), kept `keep_s`."""

    def __init__(self, client: Redis, prefix: str = "sb", keep_s: float = 30 * 86400) -> None:
        self.client = client
        self.prefix = prefix
        self.keep_s = int(keep_s)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:thread:{quote(key, safe='')}"

    async def mark(self, key: str) -> None:
        async with unavailable_as_store_error():
            await self.client.set(self._key(key), "1", ex=self.keep_s)

    async def is_marked(self, key: str) -> bool:
        async with unavailable_as_store_error():
            return bool(await self.client.exists(self._key(key)))
