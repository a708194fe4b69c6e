"""A user's right to see and to erase what Switchboard keeps about them.

Everything personal lives under `{prefix}:user:{user}:` (history per conversation, feedback, escalation
records, pending approvals, the last address); beyond those keys the user appears in the escalation
indexes and feed (removed by the escalation store), in Slack's dead-letter jobs (removed here), and in
the audit log of tool actions, a business record: erasure replaces the user's id there with a
pseudonym. Nothing else names a user: ledgers and thread marks are keyed by Slack message, and queued
jobs are deleted once answered.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from redis.asyncio import Redis

from memory.actions import RedisAuditLog
from memory.escalations import STATES, RedisEscalationStore
from memory.store import unavailable_as_store_error

DEAD_LETTERS = ("slack:jobs:dead", "mobile:jobs:dead")


class UserData:
    def __init__(self, client: Redis, prefix: str = "sb") -> None:
        self.client = client
        self.prefix = prefix

    def _pattern(self, user_id: str) -> str:
        return f"{self.prefix}:user:{quote(user_id, safe='')}:*"

    async def keys(self, user_id: str) -> list[str]:
        async with unavailable_as_store_error():
            return sorted([str(k) async for k in self.client.scan_iter(match=self._pattern(user_id), count=500)])

    async def export(self, user_id: str) -> dict[str, Any]:
        """Every record kept about `user_id`, by key, values decoded where they are JSON; and the user's
        Slack jobs that failed for good (dead letters)."""
        records: dict[str, Any] = {}
        for key in await self.keys(user_id):
            async with unavailable_as_store_error():
                records[key.removeprefix(self._pattern(user_id)[:-1])] = await read_value(self.client, key)
        async with unavailable_as_store_error():
            dead = [payload for _, _, payload in await self._dead_letters(user_id)]
            audit = await RedisAuditLog(self.client, self.prefix).entries(user_id, limit=10_000)
        return {"user_id": user_id, "records": records, "dead_letters": dead, "audit": audit}

    async def forget(self, user_id: str) -> dict[str, Any]:
        """Deletes everything about `user_id`; returns what was deleted."""
        keys = await self.keys(user_id)
        async with unavailable_as_store_error():
            escalations = RedisEscalationStore(self.client, prefix=self.prefix)
            index_entries = await escalations.forget_user(user_id)
            index_entries += await self._forget_index_entries(escalations, user_id)
            audit = await RedisAuditLog(self.client, self.prefix).pseudonymise(user_id)
            for key in keys + await self.keys(user_id):  # and any written meanwhile
                await self.client.delete(key)
            dead = await self._forget_dead_letters(user_id)
        return {
            "user_id": user_id,
            "keys": sorted(set(keys)),
            "escalation_index_entries": index_entries,
            "dead_letters": dead,
            "audit_entries_pseudonymised": audit,
        }

    async def _forget_index_entries(self, escalations: RedisEscalationStore, user_id: str) -> int:
        """Index members whose record already expired (records have a TTL, index entries do not)."""
        removed = 0
        for state in STATES:
            key = escalations.index_key(state)
            members = [m async for m, _ in self.client.zscan_iter(key, match=f"{quote(user_id, safe='')}/*")]
            if members:
                removed += int(await self.client.zrem(key, *members))
        return removed

    async def _dead_letters(self, user_id: str) -> list[tuple[str, str, Any]]:
        """(stream, entry id, payload) of the dead-letter jobs this user sent (by the job's author, not by
        any mention of them in someone else's message)."""
        found = []
        for name in DEAD_LETTERS:
            stream = f"{self.prefix}:{name}"
            entries: Any = await self.client.xrange(stream)
            for entry_id, fields in entries:
                payload = _decoded((fields or {}).get("payload", ""))
                if _author(payload) == user_id:
                    found.append((stream, str(entry_id), payload))
        return found

    async def _forget_dead_letters(self, user_id: str) -> int:
        removed = 0
        for stream, entry_id, _ in await self._dead_letters(user_id):
            removed += int(await self.client.xdel(stream, entry_id))
        return removed


async def read_value(client: Redis, key: str) -> Any:
    """Whatever a key holds, of any Redis type, JSON values decoded."""
    kind = str(await client.type(key))
    if kind == "list":
        return [_decoded(item) for item in await client.lrange(key, 0, -1)]
    if kind == "hash":
        fields: Any = await client.hgetall(key)
        return {k: _decoded(v) for k, v in fields.items()}
    if kind == "string":
        return _decoded(await client.get(key))
    if kind == "set":
        return sorted(await client.smembers(key))
    if kind == "zset":
        return await client.zrange(key, 0, -1, withscores=True)
    if kind == "stream":
        entries: Any = await client.xrange(key)
        return [[entry_id, fields] for entry_id, fields in entries]
    return f"<{kind}>"


def _author(payload: Any) -> str:
    """Who a job came from: a mobile job's user, a Slack event's user, the clicker, or the command's user."""
    if not isinstance(payload, dict):
        return ""
    if isinstance(payload.get("user_id"), str) and "event" not in payload:
        return str(payload["user_id"])
    event, body = payload.get("event") or {}, payload.get("body") or {}
    user = body.get("user") if isinstance(body, dict) else None
    candidates = [
        event.get("user") if isinstance(event, dict) else None,
        user.get("id") if isinstance(user, dict) else None,
        body.get("user_id") if isinstance(body, dict) else None,
    ]
    return next((str(c) for c in candidates if c), "")


def _decoded(value: Any) -> Any:
    try:
        return json.loads(value)
    except (TypeError, ValueError):
        return value
