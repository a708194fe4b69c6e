"""Counters operators read: how often each guard stopped or flagged a message."""

from __future__ import annotations

from redis.asyncio import Redis

from memory.store import unavailable_as_store_error


class RedisSafetyCounter:
    def __init__(self, client: Redis, prefix: str = "sb") -> None:
        self.client = client
        self.key = f"{prefix}:stats:safety"

    async def count(self, kind: str) -> None:
        async with unavailable_as_store_error():
            await self.client.hincrby(self.key, kind, 1)
