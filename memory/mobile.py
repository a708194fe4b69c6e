"""What the mobile channel keeps in Redis: push devices and each conversation's replies (under the user's
keys, so export and erasure find them), and the idempotency keys of the apps' requests."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import quote

from redis.asyncio import Redis

from memory.store import unavailable_as_store_error

PLATFORMS = ("ios", "android")


def _user(prefix: str, user_id: str) -> str:
    return f"{prefix}:user:{quote(user_id, safe='')}"


class RedisDevices:
    """A user's push tokens: token → platform (a hash under the user's keys)."""

    def __init__(self, client: Redis, prefix: str = "sb", max_devices: int = 20) -> None:
        self.client = client
        self.prefix = prefix
        self.max_devices = max_devices

    def _key(self, user_id: str) -> str:
        return f"{_user(self.prefix, user_id)}:devices"

    async def add(self, user_id: str, platform: str, token: str) -> bool:
        """False when the user already has `max_devices` other devices."""
        async with unavailable_as_store_error():
            known: Any = await self.client.hgetall(self._key(user_id))
            if token not in known and len(known) >= self.max_devices:
                return False
            await self.client.hset(self._key(user_id), token, platform)
        return True

    async def remove(self, user_id: str, token: str) -> bool:
        async with unavailable_as_store_error():
            return bool(await self.client.hdel(self._key(user_id), token))

    async def of(self, user_id: str) -> dict[str, str]:
        async with unavailable_as_store_error():
            found: Any = await self.client.hgetall(self._key(user_id))
        return {str(token): str(platform) for token, platform in found.items()}


class RedisReplyLog:
    """Each mobile conversation's replies in full, for the app to render (newest `keep`, for `ttl_s`)."""

    def __init__(self, client: Redis, prefix: str = "sb", keep: int = 100, ttl_s: int = 30 * 86400) -> None:
        self.client = client
        self.prefix = prefix
        self.keep = keep
        self.ttl_s = ttl_s

    def _key(self, user_id: str, conversation_id: str) -> str:
        return f"{_user(self.prefix, user_id)}:mobile:{quote(conversation_id, safe='')}:replies"

    async def add(self, user_id: str, conversation_id: str, message_id: str, reply: dict[str, Any]) -> None:
        entry = json.dumps({"message_id": message_id, "at": round(time.time(), 3), "reply": reply})
        key = self._key(user_id, conversation_id)
        async with unavailable_as_store_error(), self.client.pipeline(transaction=True) as pipe:
            pipe.rpush(key, entry)
            pipe.ltrim(key, -self.keep, -1)
            pipe.expire(key, self.ttl_s)
            await pipe.execute()

    async def read(self, user_id: str, conversation_id: str) -> list[dict[str, Any]]:
        async with unavailable_as_store_error():
            raw: Any = await self.client.lrange(self._key(user_id, conversation_id), 0, -1)
        return [json.loads(item) for item in raw]

    async def has(self, user_id: str, conversation_id: str, message_id: str) -> bool:
        return any(entry["message_id"] == message_id for entry in await self.read(user_id, conversation_id))


class RedisRequestKeys:
    """An app's `Idempotency-Key` → the message id it was given; a retry gets the same id, once a day."""

    def __init__(self, client: Redis, prefix: str = "sb", keep_s: int = 86400) -> None:
        self.client = client
        self.prefix = prefix
        self.keep_s = keep_s

    def _key(self, app: str, key: str) -> str:
        return f"{self.prefix}:mobile:idempotency:{quote(app, safe='')}:{quote(key, safe='')}"

    async def claim(self, app: str, key: str, message_id: str) -> str | None:
        """None when this request is new (and now recorded); else the message id of the first one."""
        async with unavailable_as_store_error():
            if await self.client.set(self._key(app, key), message_id, nx=True, ex=self.keep_s):
                return None
            first = await self.client.get(self._key(app, key))
        return str(first) if first is not None else None

    async def forget(self, app: str, key: str) -> None:
        """The request could not be queued: a retry must be processed."""
        async with unavailable_as_store_error():
            await self.client.delete(self._key(app, key))
