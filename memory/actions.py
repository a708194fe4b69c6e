"""What tools and their consent keep in Redis: pending approvals, "which order?" questions, the audit log,
and each user's last address (where a proactive notice goes).

Proposals, pending questions and addresses live under the user's keys (`{prefix}:user:{user}:…`), so a
user's export and erasure find them. The audit log outlives an erasure by design (who changed what is a
business record): erasure replaces the user's id in its entries with a pseudonym instead.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any
from urllib.parse import quote

from redis.asyncio import Redis

from engine.consent import OPEN, AuditEntry, Proposal, conversation_digest
from engine.types import ConversationRef
from memory.store import unavailable_as_store_error, user_key


class RedisProposals:
    """Approvals waiting for a click; `take` is a DEL, so exactly one click (in any process) gets True."""

    def __init__(self, client: Redis, prefix: str = "sb") -> None:
        self.client = client
        self.prefix = prefix

    def _key(self, proposal_user: str, nonce: str) -> str:
        return f"{user_key(self.prefix, proposal_user)}:proposal:{quote(nonce, safe='')}"

    async def put(self, proposal: Proposal, state: str = OPEN) -> None:
        ttl_ms = max(1, int((proposal.expires_at - time.time()) * 1000))
        value = json.dumps({"tool": proposal.call.tool, "arguments": dict(proposal.call.arguments), "state": state})
        async with unavailable_as_store_error():
            await self.client.set(self._key(proposal.call.user_id, proposal.nonce), value, px=ttl_ms)

    async def take(self, proposal: Proposal) -> str | None:
        async with unavailable_as_store_error():
            raw = await self.client.getdel(self._key(proposal.call.user_id, proposal.nonce))
        if raw is None:
            return None
        try:
            return str(json.loads(raw).get("state", OPEN))
        except (ValueError, AttributeError):
            return OPEN


class RedisPendingChoices:
    """One "which order?" question per conversation, for `ttl_s`; answered (taken) once."""

    def __init__(self, client: Redis, prefix: str = "sb", ttl_s: int = 900) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = ttl_s

    def _key(self, conversation: ConversationRef) -> str:
        return f"{user_key(self.prefix, conversation.user_id)}:pending:{conversation_digest(conversation)}"

    async def ask(self, conversation: ConversationRef, tool: str, candidates: list[str]) -> None:
        async with unavailable_as_store_error():
            await self.client.set(
                self._key(conversation), json.dumps({"tool": tool, "candidates": candidates}), ex=self.ttl_s
            )

    async def take(self, conversation: ConversationRef) -> tuple[str, list[str]] | None:
        async with unavailable_as_store_error():
            raw = await self.client.getdel(self._key(conversation))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return str(data["tool"]), [str(c) for c in data["candidates"]]
        except (ValueError, KeyError, TypeError):
            return None


class RedisAuditLog:
    """Entries as hashes, indexed by time (`{prefix}:audit:log`) and by user (under the user's keys)."""

    def __init__(self, client: Redis, prefix: str = "sb", keep_days: float = 365) -> None:
        self.client = client
        self.prefix = prefix
        self.keep_s = int(keep_days * 86400)

    @property
    def _log(self) -> str:
        return f"{self.prefix}:audit:log"

    def _entry(self, entry_id: str) -> str:
        return f"{self.prefix}:audit:entry:{entry_id}"

    def _by_user(self, user_id: str) -> str:
        return f"{user_key(self.prefix, user_id)}:audit"

    async def record(self, entry: AuditEntry) -> None:
        async with unavailable_as_store_error():
            # a sequence number: entries written within one millisecond still read back in order
            entry_id = f"{int(await self.client.incr(f'{self.prefix}:audit:seq')):014d}"
            async with self.client.pipeline(transaction=True) as pipe:
                pipe.hset(
                    self._entry(entry_id),
                    mapping={
                        "at": f"{entry.at:.3f}",
                        "user": entry.user_id,
                        "conversation": entry.conversation,
                        "tool": entry.tool,
                        "arguments": json.dumps(dict(entry.arguments), sort_keys=True),
                        "outcome": entry.outcome,
                        "detail": entry.detail,
                    },
                )
                pipe.expire(self._entry(entry_id), self.keep_s)
                pipe.zadd(self._log, {entry_id: entry.at})
                pipe.zremrangebyscore(self._log, "-inf", entry.at - self.keep_s)
                pipe.sadd(self._by_user(entry.user_id), entry_id)
                pipe.expire(self._by_user(entry.user_id), self.keep_s)
                await pipe.execute()

    async def entries(self, user_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """The newest `limit` entries (of one user when given), oldest first."""
        async with unavailable_as_store_error():
            if user_id is None:
                ids = [str(i) for i in await self.client.zrevrange(self._log, 0, limit - 1)]
            else:
                ids = sorted((str(i) for i in await self.client.smembers(self._by_user(user_id))), reverse=True)
                ids = ids[:limit]
            ids.reverse()
            async with self.client.pipeline(transaction=False) as pipe:  # one round trip, not one per entry
                for entry_id in ids:
                    pipe.hgetall(self._entry(entry_id))
                rows: list[Any] = await pipe.execute()
        return [_decoded(entry_id, fields) for entry_id, fields in zip(ids, rows, strict=True) if fields]

    async def pseudonymise(self, user_id: str) -> int:
        """Erasure: the user's id (also inside conversation ids) becomes one random pseudonym; returns how
        many entries changed."""
        pseudonym = f"erased-{secrets.token_hex(6)}"
        changed = 0
        async with unavailable_as_store_error():
            for entry_id in await self.client.smembers(self._by_user(user_id)):
                key = self._entry(str(entry_id))
                fields: Any = await self.client.hgetall(key)
                if not fields:
                    continue
                conversation = str(fields.get("conversation", "")).replace(user_id, pseudonym)
                await self.client.hset(key, mapping={"user": pseudonym, "conversation": conversation})
                changed += 1
            await self.client.delete(self._by_user(user_id))
        return changed


def _decoded(entry_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    try:
        arguments = json.loads(fields.get("arguments", "{}"))
    except ValueError:
        arguments = {}
    return {
        "id": entry_id,
        "at": float(fields.get("at", 0)),
        "user": fields.get("user", ""),
        "conversation": fields.get("conversation", ""),
        "tool": fields.get("tool", ""),
        "arguments": arguments,
        "outcome": fields.get("outcome", ""),
        "detail": fields.get("detail", ""),
    }


class RedisAddressBook:
    """Where each user last wrote from (channel and conversation), so a notice reaches them there."""

    def __init__(self, client: Redis, prefix: str = "sb", ttl_days: float = 90) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_s = int(ttl_days * 86400)

    def _key(self, user_id: str) -> str:
        return f"{user_key(self.prefix, user_id)}:address"

    async def note(self, conversation: ConversationRef) -> None:
        value = json.dumps({"channel": conversation.channel, "conversation_id": conversation.conversation_id})
        async with unavailable_as_store_error():
            await self.client.set(self._key(conversation.user_id), value, ex=self.ttl_s)

    async def last(self, user_id: str) -> ConversationRef | None:
        async with unavailable_as_store_error():
            raw = await self.client.get(self._key(user_id))
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            return ConversationRef(str(data["channel"]), str(data["conversation_id"]), user_id)
        except (ValueError, KeyError, TypeError):
            return None
