"""The ingress ledger in Redis: one key per inbound event, `processing` (a lease) or `done` (kept longer).

A claim is `SET NX` with the lease as expiry: a retry that arrives while the first delivery is being
answered, or after it was answered, finds the key and is dropped; a retry after the processing process
died finds the lease expired and is processed again.
"""

from __future__ import annotations

from urllib.parse import quote

from redis.asyncio import Redis

from memory.store import DELETE_IF_HELD, unavailable_as_store_error, user_key

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

    async def done(self, key: str) -> None:
        async with unavailable_as_store_error():
            await self.client.set(self._key(key), DONE, px=self.keep_ms)

    async def release(self, key: str) -> None:
        # only our own lease: a delivery that failed late must not reopen an event another one finished
        async with unavailable_as_store_error():
            await self.client.eval(DELETE_IF_HELD, 1, self._key(key), PROCESSING)

    async def state(self, key: str) -> str | None:
        async with unavailable_as_store_error():
            value = await self.client.get(self._key(key))
        return None if value is None else str(value)


class RedisDeliveryNotes:
    """What a delivery already did for a user's message (the message it posted, the reply it was sending),
    so the next delivery of a failed job resumes instead of doing it again. Under the user's own keys: a
    reply is the user's data, exported and erased with the rest; kept `keep_s` (the job's retries) at most."""

    def __init__(self, client: Redis, prefix: str = "sb", keep_s: float = 1320) -> None:
        if keep_s <= 0:
            raise ValueError("keep_s must be positive")
        self.client = client
        self.prefix = prefix
        self.keep_ms = int(keep_s * 1000)

    def _key(self, user_id: str, key: str) -> str:
        return f"{user_key(self.prefix, user_id)}:delivery:{quote(key, safe='')}"

    async def note(self, user_id: str, key: str, value: str) -> None:
        async with unavailable_as_store_error():
            await self.client.set(self._key(user_id, key), value, px=self.keep_ms)

    async def noted(self, user_id: str, key: str) -> str | None:
        async with unavailable_as_store_error():
            value = await self.client.get(self._key(user_id, key))
        return None if value is None else str(value)

    async def drop(self, user_id: str, key: str) -> None:
        async with unavailable_as_store_error():
            await self.client.delete(self._key(user_id, key))


# a thread handed over stays with people: answering there again (a mention) does not hand it back
_MARK = """
if redis.call('GET', KEYS[1]) == 'person' then
  redis.call('EXPIRE', KEYS[1], ARGV[1])
  return 0
end
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
return 1
"""


class RedisThreadRegistry:
    """Slack threads the bot has answered in (follow-ups there need no mention), and those it handed over to
    a person (follow-ups there are left to people: the agent's replies are not questions), kept `keep_s`."""

    def __init__(self, client: Redis, prefix: str = "sb", keep_s: float = 30 * 86400) -> None:
        self.client = client
        self.prefix = prefix
        self.keep_s = int(keep_s)
        self._mark = client.register_script(_MARK)

    def _key(self, key: str) -> str:
        return f"{self.prefix}:thread:{quote(key, safe='')}"

    async def mark(self, key: str) -> None:
        async with unavailable_as_store_error():
            await self._mark(keys=[self._key(key)], args=[self.keep_s])

    async def hand_over(self, key: str) -> None:
        async with unavailable_as_store_error():
            await self.client.set(self._key(key), "person", ex=self.keep_s)

    async def is_marked(self, key: str) -> bool:
        """Whether follow-ups in the thread without a mention are the bot's to answer."""
        async with unavailable_as_store_error():
            return str(await self.client.get(self._key(key)) or "") == "1"
