"""What the mobile channel keeps in Redis: push devices and each conversation's replies (under the user's
keys, so export and erasure find them), and the idempotency keys of the apps' requests."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from typing import Any
from urllib.parse import quote

from redis.asyncio import Redis

from memory.store import DELETE_IF_HELD, unavailable_as_store_error, user_key

PLATFORMS = ("ios", "android")


class RedisDevices:
    """A user's push tokens: token → platform (a hash under the user's keys)."""

    def __init__(self, client: Redis, prefix: str = "sb", max_devices: int = 20) -> None:
        self.client = client
        self.prefix = prefix
        self.max_devices = max_devices

    def _key(self, app: str, user_id: str) -> str:
        return f"{user_key(self.prefix, user_id)}:mobile:{quote(app, safe='')}:devices"

    def _owner(self, app: str, token: str) -> str:
        digest = hashlib.sha256(token.encode()).hexdigest()[:32]
        return f"{self.prefix}:mobile:{quote(app, safe='')}:device-owner:{digest}"

    async def add(self, app: str, user_id: str, platform: str, token: str) -> bool:
        """False when the user already has `max_devices` other devices. A phone that signs in to another
        account moves to it: the previous user's replies are no longer pushed to it."""
        async with unavailable_as_store_error():
            known: Any = await self.client.hgetall(self._key(app, user_id))
            if token not in known and len(known) >= self.max_devices:
                return False
            previous = await self.client.getset(self._owner(app, token), user_id)
            async with self.client.pipeline(transaction=True) as pipe:
                if previous is not None and str(previous) != user_id:
                    pipe.hdel(self._key(app, str(previous)), token)
                pipe.hset(self._key(app, user_id), token, platform)
                await pipe.execute()
        return True

    async def remove(self, app: str, user_id: str, token: str) -> bool:
        async with unavailable_as_store_error():
            removed = bool(await self.client.hdel(self._key(app, user_id), token))
            owner = await self.client.get(self._owner(app, token))
            if owner is not None and str(owner) == user_id:
                await self.client.delete(self._owner(app, token))
        return removed

    async def of(self, app: str, user_id: str) -> dict[str, str]:
        async with unavailable_as_store_error():
            found: Any = await self.client.hgetall(self._key(app, user_id))
        return {str(token): str(platform) for token, platform in found.items()}


_RENEW = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end return 0"


class RedisReplyLog:
    """Each mobile conversation's replies in full, for the app to render (newest `keep`, for `ttl_s`)."""

    def __init__(self, client: Redis, prefix: str = "sb", keep: int = 100, ttl_s: int = 30 * 86400) -> None:
        self.client = client
        self.prefix = prefix
        self.keep = keep
        self.ttl_s = ttl_s

    def _key(self, app: str, user_id: str, conversation_id: str) -> str:
        where = f"{quote(app, safe='')}:{quote(conversation_id, safe='')}"
        return f"{user_key(self.prefix, user_id)}:mobile:{where}:replies"

    async def add(self, app: str, user_id: str, conversation_id: str, message_id: str, reply: dict[str, Any]) -> None:
        entry = json.dumps({"message_id": message_id, "at": round(time.time(), 3), "reply": reply})
        key = self._key(app, user_id, conversation_id)
        async with unavailable_as_store_error(), self.client.pipeline(transaction=True) as pipe:
            pipe.rpush(key, entry)
            pipe.ltrim(key, -self.keep, -1)
            pipe.expire(key, self.ttl_s)
            await pipe.execute()

    def _answering(self, app: str, user_id: str, message_id: str) -> str:
        return f"{user_key(self.prefix, user_id)}:mobile:{quote(app, safe='')}:answering:{quote(message_id, safe='')}"

    async def start(self, app: str, user_id: str, message_id: str, hold_s: int = 60) -> str | None:
        """One worker at a time per message (a job handed out twice while it runs is not answered twice): the
        lease's token, or None when another worker holds it. The worker renews it (`renew`) while it works,
        so one that died frees it within `hold_s`; only its holder renews or ends it."""
        token = uuid.uuid4().hex
        async with unavailable_as_store_error():
            taken = await self.client.set(self._answering(app, user_id, message_id), token, nx=True, ex=hold_s)
        return token if taken else None

    async def renew(self, app: str, user_id: str, message_id: str, token: str, hold_s: int = 60) -> bool:
        async with unavailable_as_store_error():
            kept = await self.client.eval(_RENEW, 1, self._answering(app, user_id, message_id), token, hold_s)
        return bool(kept)

    async def done(self, app: str, user_id: str, message_id: str, token: str) -> None:
        async with unavailable_as_store_error():
            await self.client.eval(DELETE_IF_HELD, 1, self._answering(app, user_id, message_id), token)

    async def read(self, app: str, user_id: str, conversation_id: str) -> list[dict[str, Any]]:
        async with unavailable_as_store_error():
            raw: Any = await self.client.lrange(self._key(app, user_id, conversation_id), 0, -1)
        return [json.loads(item) for item in raw]

    async def kept(self, app: str, user_id: str, conversation_id: str, message_id: str) -> dict[str, Any] | None:
        """The reply kept for this message (its JSON), or None."""
        found = [e for e in await self.read(app, user_id, conversation_id) if e["message_id"] == message_id]
        return dict(found[-1]["reply"]) if found else None

    def _pushed(self, app: str, user_id: str, message_id: str) -> str:
        return f"{user_key(self.prefix, user_id)}:mobile:{quote(app, safe='')}:pushed:{quote(message_id, safe='')}"

    async def mark_pushed(self, app: str, user_id: str, message_id: str) -> None:
        """The reply's pushes were made (or given up): a later delivery of its job does not push again."""
        async with unavailable_as_store_error():
            await self.client.set(self._pushed(app, user_id, message_id), "1", ex=86400)

    async def was_pushed(self, app: str, user_id: str, message_id: str) -> bool:
        async with unavailable_as_store_error():
            return bool(await self.client.exists(self._pushed(app, user_id, message_id)))


PENDING = "pending:"


class RedisRequestKeys:
    """An app's `Idempotency-Key` → the message id it was given; a retry gets the same id, for a day.

    A key is *pending* (for `pending_s`) from the claim until the job is queued, then *accepted*: a key
    whose request could not be queued expires on its own even when Redis could not be told, so a retry
    is never answered "duplicate" for work that was never queued. The request's fingerprint is kept with
    the id (`<fingerprint>/<message id>`): a key sent again with another request is not a retry."""

    def __init__(self, client: Redis, prefix: str = "sb", keep_s: int = 86400, pending_s: int = 30) -> None:
        self.client = client
        self.prefix = prefix
        self.keep_s = keep_s
        self.pending_s = pending_s

    def _key(self, app: str, key: str) -> str:
        return f"{self.prefix}:mobile:idempotency:{quote(app, safe='')}:{quote(key, safe='')}"

    async def claim(self, app: str, key: str, message_id: str, fingerprint: str) -> str | None:
        async with unavailable_as_store_error():
            claimed = f"{PENDING}{fingerprint}/{message_id}"
            if await self.client.set(self._key(app, key), claimed, nx=True, ex=self.pending_s):
                return None
            first = await self.client.get(self._key(app, key))
        if first is None:  # expired between the two calls
            return None if await self.claim(app, key, message_id, fingerprint) is None else "in-progress"
        first = str(first)
        pending = first.startswith(PENDING)
        seen, _, first_id = first.removeprefix(PENDING).rpartition("/")
        if seen and seen != fingerprint:
            return "reused"
        return "in-progress" if pending else first_id

    async def accepted(self, app: str, key: str, message_id: str, fingerprint: str) -> None:
        async with unavailable_as_store_error():
            await self.client.set(self._key(app, key), f"{fingerprint}/{message_id}", ex=self.keep_s)

    async def forget(self, app: str, key: str) -> None:
        """The request could not be queued: a retry must be processed."""
        async with unavailable_as_store_error():
            await self.client.delete(self._key(app, key))
