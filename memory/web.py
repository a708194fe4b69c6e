"""What the web channel keeps in Redis: each conversation's frames, numbered, so a page that reloads or a
socket that drops gets back exactly the frames it missed, and the widget's message ids already taken (a
message resent after a reconnect is answered once).

Frames live under the user's keys (export and erasure find them) for `ttl_s` after the last one.
Once an answer's `final` frame is written, its `status` and `token` frames are dropped: the final one
holds the whole reply, so the log keeps the conversation, not every streamed piece of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

from redis import exceptions as redis_errors
from redis.asyncio import Redis

from memory.store import unavailable_as_store_error, user_key

log = logging.getLogger(__name__)

# KEYS: counter, log, answered, streaming. ARGV: the frame's JSON without its seq, its type, its message
# id, keep, ttl, the cap while answers stream. The seq is spliced in as the first member, so numbering and
# appending are one atomic step. Streamed pieces (`streaming` counts those in the log) do not count
# against `keep`, so a long answer never pushes the conversation out; a final drops its own pieces.
_APPEND = """
local seq = redis.call('INCR', KEYS[1])
local entry = '{"seq":' .. seq .. ',' .. string.sub(ARGV[1], 2)
local kind = ARGV[2]
local streamed = (kind == 'token' or kind == 'status')
if kind == 'final' and ARGV[3] ~= '' then
  local kept, pieces = {}, 0
  for _, item in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    local frame = cjson.decode(item)
    local piece = (frame.type == 'token' or frame.type == 'status')
    if not (piece and frame.message_id == ARGV[3]) then
      table.insert(kept, item)
      if piece then pieces = pieces + 1 end
    end
  end
  redis.call('DEL', KEYS[2])
  for i = 1, #kept, 1000 do
    redis.call('RPUSH', KEYS[2], unpack(kept, i, math.min(i + 999, #kept)))
  end
  redis.call('SET', KEYS[4], pieces)
  redis.call('SADD', KEYS[3], ARGV[3])
elseif streamed then
  redis.call('INCR', KEYS[4])
end
redis.call('RPUSH', KEYS[2], entry)
if streamed then
  redis.call('LTRIM', KEYS[2], -tonumber(ARGV[6]), -1)
else
  local pieces = tonumber(redis.call('GET', KEYS[4]) or '0')
  redis.call('LTRIM', KEYS[2], -(tonumber(ARGV[4]) + pieces), -1)
end
for i = 1, 4 do redis.call('EXPIRE', KEYS[i], ARGV[5]) end
return seq
"""
STREAMING_CAP = 5000  # frames of answers still streaming, beyond `keep`


class RedisFrameLog:
    def __init__(self, client: Redis, prefix: str = "sb", keep: int = 500, ttl_s: int = 86400) -> None:
        self.client = client
        self.prefix = prefix
        self.keep = keep
        self.ttl_s = ttl_s
        self._append = client.register_script(_APPEND)

    def _base(self, user_id: str, conversation_id: str) -> str:
        return f"{user_key(self.prefix, user_id)}:web:conv:{quote(conversation_id, safe='')}"

    async def append(self, user_id: str, conversation_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        """The frame with its `seq` (1, 2, 3… per conversation) as it was stored."""
        base = self._base(user_id, conversation_id)
        body = json.dumps({key: value for key, value in frame.items() if key != "seq"}, ensure_ascii=False)
        kind, message_id = str(frame.get("type", "")), str(frame.get("message_id", ""))
        args: list[str | int] = [body, kind, message_id, self.keep, self.ttl_s, self.keep + STREAMING_CAP]
        keys = [f"{base}:seq", f"{base}:frames", f"{base}:answered", f"{base}:streaming"]
        async with unavailable_as_store_error():
            seq = int(await self._append(keys=keys, args=args))
        return {"seq": seq} | {key: value for key, value in frame.items() if key != "seq"}

    @property
    def announcements_channel(self) -> str:
        return f"{self.prefix}:web:announced"

    async def announce(self, user_id: str, conversation_id: str, stored: dict[str, Any]) -> None:
        """A frame appended outside the process that holds the conversation's sockets (an order notice, an
        agent's reply): every web process hears it and sends it to its live sockets. Only the address and the
        seq travel; the frame stays in the user's log."""
        body = json.dumps({"u": user_id, "c": conversation_id, "seq": int(stored["seq"])})
        async with unavailable_as_store_error():
            await self.client.publish(self.announcements_channel, body)

    async def announced(self, wait_s: float = 1.0) -> AsyncIterator[tuple[str, str, int]]:
        """(user, conversation, seq) of every announced frame, for ever; a lost connection is opened again
        (frames announced meanwhile reach their sockets at the next frame or resume)."""
        while True:
            pubsub = self.client.pubsub()
            try:
                await pubsub.subscribe(self.announcements_channel)
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=wait_s)
                    if message is None:
                        continue
                    try:
                        said = json.loads(message["data"])
                        yield str(said["u"]), str(said["c"]), int(said["seq"])
                    except (ValueError, KeyError, TypeError):
                        log.warning("an announcement that is not ours was ignored")
            except (redis_errors.ConnectionError, redis_errors.TimeoutError, OSError) as error:
                log.warning("web announcements: %r; listening again shortly", error)
                await asyncio.sleep(2)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]

    async def since(
        self, user_id: str, conversation_id: str, after: int, before: int | None = None
    ) -> list[dict[str, Any]]:
        """The kept frames with after < seq (< before), oldest first."""
        async with unavailable_as_store_error():
            raw: list[Any] = await self.client.lrange(f"{self._base(user_id, conversation_id)}:frames", 0, -1)
        frames = [json.loads(item) for item in raw]
        return [f for f in frames if f["seq"] > after and (before is None or f["seq"] < before)]

    async def last_seq(self, user_id: str, conversation_id: str) -> int:
        async with unavailable_as_store_error():
            value = await self.client.get(f"{self._base(user_id, conversation_id)}:seq")
        return int(value or 0)

    async def answered(self, user_id: str, conversation_id: str, message_id: str) -> bool:
        """Whether this conversation holds a final reply to `message_id` (votes are only taken on those)."""
        async with unavailable_as_store_error():
            return bool(await self.client.sismember(f"{self._base(user_id, conversation_id)}:answered", message_id))

    def _current(self, user_id: str) -> str:
        return f"{user_key(self.prefix, user_id)}:web:current"

    async def note_current(self, user_id: str, conversation_id: str) -> None:
        """The conversation this user's widget opened last (a "New chat" moves it on)."""
        async with unavailable_as_store_error():
            await self.client.set(self._current(user_id), conversation_id, ex=self.ttl_s)

    async def current(self, user_id: str) -> str | None:
        async with unavailable_as_store_error():
            value = await self.client.get(self._current(user_id))
        return None if value is None else str(value)

    def _sent(self, user_id: str, client_id: str) -> str:
        return f"{user_key(self.prefix, user_id)}:web:sent:{quote(client_id, safe='')}"

    async def sent_in(self, user_id: str, client_id: str) -> str | None:
        """The conversation this user sent a message with this client id in; None: never ("" when kept by
        a version that did not say)."""
        async with unavailable_as_store_error():
            value = await self.client.get(self._sent(user_id, client_id))
        return None if value is None else ("" if value == "1" else str(value))

    async def first_use(self, user_id: str, client_id: str, conversation_id: str) -> bool:
        """False when this user already sent a message with this client id (a resend after a reconnect)."""
        async with unavailable_as_store_error():
            sent = await self.client.set(self._sent(user_id, client_id), conversation_id, nx=True, ex=self.ttl_s)
        return bool(sent)

    async def forget_use(self, user_id: str, client_id: str) -> None:
        """The message was not accepted after all (the log failed): a resend is a new message."""
        async with unavailable_as_store_error():
            await self.client.delete(self._sent(user_id, client_id))
