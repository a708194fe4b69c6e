"""Escalation records in Redis: every reply that says a person will follow up has one.

A record lives under its user's keys (`{prefix}:user:{user}:escalation:{id}`, a hash), so export and
erasure find it with the rest of the user's data; one sorted set per state (`{prefix}:escalations:{state}`,
scored by time) lets agents and channels list them. State changes are atomic (a Lua script): a record
moves open → claimed → resolved, and only its claimer (or anyone, for an open one) may move it on.

One conversation has one record at a time: while its record is open, or claimed by an agent who acted on
it (claimed it, replied) within REPEAT_WINDOW_S, another hand-over ("hello?? still waiting", a second click
on "Talk to a human") adds to that record (`repeats`, `latest_question`) instead of opening a second one
that another agent could claim. A claim whose agent went quiet longer does not swallow a new problem weeks
later: that is a new record, in the queue and the agents' channel. The conversation's current record is
named under the user's keys too (`{prefix}:user:{user}:handover:{digest}`), checked and set in one
transaction.
"""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import quote, unquote

from redis.asyncio import Redis
from redis.exceptions import ResponseError, WatchError

from engine.types import ConversationRef
from memory.store import unavailable_as_store_error

STATES = ("open", "claimed", "resolved")
MAX_TEXT = 8000
FEED_LENGTH = 10_000  # the feed keeps about this many recent entries
STALE_MS = 60_000  # an entry taken but not acknowledged this long is handed to another consumer
MAX_SAID = 200  # the customer's messages kept for the agent holding a record
REPEAT_WINDOW_S = 24 * 3600  # a claim whose agent is silent this long lapses: the next hand-over is new
MAX_EARLIER = 10  # entries of the conversation before the hand-over kept with its record, for the agent
MAX_EARLIER_CHARS = 1000  # of each

# KEYS: record, index of the current state, index of the new state, the feed. ARGV: from, to, agent, now,
# member, the feed's length. The move goes into the feed with it: a post of the record elsewhere (the Slack
# agents' channel) shows who holds it, whether it was claimed there, from the API or the command line.
_MOVE = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 'missing' end
if state ~= ARGV[1] then return state end
local claimer = redis.call('HGET', KEYS[1], 'claimed_by')
if ARGV[1] == 'claimed' and claimer ~= ARGV[3] then return 'not_yours' end
redis.call('HSET', KEYS[1], 'state', ARGV[2], 'updated_at', ARGV[4])
if ARGV[2] == 'claimed' then redis.call('HSET', KEYS[1], 'claimed_by', ARGV[3], 'agent_at', ARGV[4]) end
redis.call('ZREM', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[5])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[6], '*', 'member', ARGV[5], 'moved', ARGV[2])
return 'ok'
"""
# KEYS: record. ARGV: now. An agent's reply keeps the claim alive; a record gone (expired, erased) is not remade.
_REPLIED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'agent_replies', 1)
redis.call('HSET', KEYS[1], 'updated_at', ARGV[1], 'agent_at', ARGV[1])
return 1
"""


class EscalationError(ValueError):
    """A state change that cannot be made; the message says why."""


@dataclass(frozen=True, slots=True)
class Earlier:
    """One entry of the conversation before the hand-over, as history keeps it (personal data redacted)."""

    role: str  # "customer" or "assistant" (the bot, or an agent who replied earlier)
    text: str


@dataclass(frozen=True, slots=True)
class Escalation:
    id: str
    channel: str
    conversation_id: str
    user_id: str
    message_id: str
    reason: str
    question: str
    reply: str
    state: str
    created_at: float
    updated_at: float
    claimed_by: str = ""
    sources: tuple[str, ...] = ()
    confidence: float = 0.0
    repeats: int = 0  # later hand-overs of the same conversation while this record was open or claimed
    latest_question: str = ""  # the message of the latest of them
    language: str = ""  # the customer's language, as the reply was written in ("" when untold)
    agent_replies: int = 0  # replies an agent sent the customer through Switchboard
    customer_messages: int = 0  # messages the customer sent while an agent held it (relayed to them)
    agents_post: str = ""  # "channel:ts" of its post in the Slack agents' channel, once posted
    agent_at: float = 0.0  # when its agent last acted on it (claimed it, replied): a claim lives on that
    # what was said before the hand-over, oldest first: the agent reads how the customer got here
    earlier: tuple[Earlier, ...] = ()

    @property
    def conversation(self) -> ConversationRef:
        return ConversationRef(self.channel, self.conversation_id, self.user_id)


def _member(user_id: str, escalation_id: str) -> str:
    return f"{quote(user_id, safe='')}/{escalation_id}"


class RedisEscalationStore:
    def __init__(self, client: Redis, prefix: str = "sb", ttl_seconds: int = 90 * 24 * 3600) -> None:
        self.client = client
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self._move = client.register_script(_MOVE)
        self._replied = client.register_script(_REPLIED)
        self._groups: set[str] = set()  # feed consumer groups known to exist

    def record_key(self, user_id: str, escalation_id: str) -> str:
        return f"{self.prefix}:user:{quote(user_id, safe='')}:escalation:{escalation_id}"

    def index_key(self, state: str) -> str:
        return f"{self.prefix}:escalations:{state}"

    def current_key(self, conversation: ConversationRef) -> str:
        digest = hashlib.sha256(f"{conversation.channel}\n{conversation.conversation_id}".encode()).hexdigest()[:32]
        return f"{self.prefix}:user:{quote(conversation.user_id, safe='')}:handover:{digest}"

    async def open(
        self,
        conversation: ConversationRef,
        message_id: str,
        reason: str,
        question: str,
        reply: str,
        sources: Sequence[str] = (),
        confidence: float = 0.0,
        language: str = "",
        earlier: Sequence[tuple[str, str]] = (),
    ) -> Escalation:
        """A new record for the conversation, or its open or claimed one with this hand-over added to it.
        `earlier`: (role, text) of the conversation before this message, oldest first; the last MAX_EARLIER
        are kept with a new record (a hand-over added to a record does not change what led to it)."""
        now = time.time()
        record = Escalation(
            id=uuid.uuid4().hex,
            channel=conversation.channel,
            conversation_id=conversation.conversation_id,
            user_id=conversation.user_id,
            message_id=message_id,
            reason=reason,
            question=question[:MAX_TEXT],
            reply=reply[:MAX_TEXT],
            state="open",
            created_at=now,
            updated_at=now,
            sources=tuple(sources[:10]),
            confidence=float(confidence),
            language=language[:16],
            earlier=tuple(Earlier(role, text[:MAX_EARLIER_CHARS]) for role, text in list(earlier)[-MAX_EARLIER:]),
        )
        key = self.record_key(record.user_id, record.id)
        current = self.current_key(conversation)
        async with unavailable_as_store_error(), self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    held, taking = await self._current(pipe, conversation, now)
                    if taking:
                        held_key = self.record_key(record.user_id, held)
                        pipe.multi()  # type: ignore[no-untyped-call]
                        pipe.hincrby(held_key, "repeats", 1)
                        touch = {"updated_at": str(now)}
                        if record.question:  # a click says nothing: the latest question stays
                            touch["latest_question"] = record.question
                        pipe.hset(held_key, mapping=touch)  # type: ignore[arg-type]
                        if taking == "held" and record.question:  # the agent holding it sees it too
                            self._keep_said(pipe, record.user_id, held, record.question, now, reason)
                        await pipe.execute()
                        break
                    pipe.multi()  # type: ignore[no-untyped-call]
                    fields = {k: str(v) for k, v in asdict(record).items()} | {
                        "sources": json.dumps(list(record.sources)),
                        "earlier": json.dumps([asdict(e) for e in record.earlier], ensure_ascii=False),
                    }
                    pipe.hset(key, mapping=fields)  # type: ignore[arg-type]
                    pipe.expire(key, self.ttl_seconds)
                    pipe.set(current, record.id, ex=self.ttl_seconds)
                    pipe.zadd(self.index_key("open"), {_member(record.user_id, record.id): now})
                    # the feed agents' surfaces follow (the Slack agents' channel): ids; relay() adds what customers say
                    pipe.xadd(self.feed_key, {"member": _member(record.user_id, record.id)}, maxlen=FEED_LENGTH)
                    await pipe.execute()
                    return record
                except WatchError:
                    continue  # another hand-over of this conversation, or a claim or resolve, came in between
            existing = await self.get(record.user_id, held)
        return existing if existing is not None else record

    async def _current(self, pipe: Any, conversation: ConversationRef, now: float) -> tuple[str, str]:
        """Under WATCH: the conversation's current record and how a new hand-over meets it: "open", "held"
        (claimed by an agent who acted within REPEAT_WINDOW_S), or "" (none, resolved, or a claim gone quiet)."""
        current = self.current_key(conversation)
        await pipe.watch(current)
        held = str(await pipe.get(current) or "")
        if not held:
            return "", ""
        key = self.record_key(conversation.user_id, held)
        await pipe.watch(key)
        state, *acted = await pipe.hmget(key, ["state", "agent_at", "updated_at"])
        if str(state or "") == "open":
            return held, "open"
        return held, "held" if str(state or "") == "claimed" and _active(acted, now) else ""

    def _keep_said(self, pipe: Any, user_id: str, held: str, text: str, now: float, reason: str = "") -> None:
        """What the customer wrote while an agent held the record: kept with it, and into the feed for the
        hand-over's thread. A message a guard answered (self-harm, a threat) says why, so it is not missed."""
        said = self.said_key(user_id, held)
        entry = {"text": text[:MAX_TEXT], "at": round(now, 3)} | ({"reason": reason} if reason else {})
        pipe.rpush(said, json.dumps(entry, ensure_ascii=False))
        pipe.ltrim(said, -MAX_SAID, -1)
        pipe.expire(said, self.ttl_seconds)
        shown = f"({reason}) {text}" if reason else text
        pipe.xadd(self.feed_key, {"member": _member(user_id, held), "said": shown[:MAX_TEXT]}, maxlen=FEED_LENGTH)

    def said_key(self, user_id: str, escalation_id: str) -> str:
        """The messages the customer sent while an agent held the record, oldest first (MAX_SAID kept)."""
        return f"{self.record_key(user_id, escalation_id)}:said"

    async def said(self, user_id: str, escalation_id: str) -> list[dict[str, Any]]:
        async with unavailable_as_store_error():
            kept: list[Any] = await self.client.lrange(self.said_key(user_id, escalation_id), 0, -1)
        return [json.loads(item) for item in kept]

    @property
    def feed_key(self) -> str:
        return f"{self.prefix}:escalations:feed"

    async def relay(self, conversation: ConversationRef, text: str) -> Escalation | None:
        """While an agent holds the conversation (claimed, and they acted within REPEAT_WINDOW_S), the
        customer's message is theirs: added to the record and to the feed (the agents' channel posts it in the
        hand-over's thread); the record is returned. None: nobody holds it, the assistant answers."""
        now = time.time()
        async with unavailable_as_store_error():
            if not await self.client.exists(self.current_key(conversation)):
                return None  # most messages: never handed over, one read and no transaction
        async with unavailable_as_store_error(), self.client.pipeline(transaction=True) as pipe:
            while True:
                try:
                    held, taking = await self._current(pipe, conversation, now)
                    if taking != "held":
                        return None
                    key = self.record_key(conversation.user_id, held)
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.hincrby(key, "customer_messages", 1)
                    pipe.hset(key, "latest_question", text[:MAX_TEXT])  # the claim's life is the agent's, not this
                    self._keep_said(pipe, conversation.user_id, held, text, now)
                    await pipe.execute()
                    break
                except WatchError:
                    continue
        return await self.get(conversation.user_id, held)

    async def follow(
        self, group: str, consumer: str, block_ms: int = 5000, count: int = 20
    ) -> list[tuple[str, Escalation, str]]:
        """New feed entries for one consumer group: (entry id, record, what the customer said: "" for a new
        hand-over or a claim or resolve, which the record's state tells). Each entry goes to one consumer of
        the group, and an entry a consumer took but never acknowledged (it died) is handed to another after
        STALE_MS."""
        async with unavailable_as_store_error():
            if group not in self._groups:
                await self._create_group(group)
            try:
                claimed: Any = await self.client.xautoclaim(
                    self.feed_key, group, consumer, min_idle_time=STALE_MS, count=count
                )
                entries: list[Any] = list(claimed[1])
                if not entries:
                    read: Any = await self.client.xreadgroup(
                        group, consumer, {self.feed_key: ">"}, count=count, block=block_ms
                    )
                    entries = [entry for _, batch in read or [] for entry in batch]
            except ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                self._groups.discard(group)  # the feed was deleted (a flushed Redis): created again next time
                return []
        found = []
        for entry_id, data in entries:
            if entry_id is None:  # Redis 6.2 hands out trimmed entries as (None, None)
                continue
            user, _, escalation_id = str((data or {}).get("member", "")).rpartition("/")
            async with unavailable_as_store_error():
                record = await self.get(unquote(user), escalation_id)
            if record is None:  # expired or erased since
                await self.acknowledge(group, str(entry_id))
            else:
                found.append((str(entry_id), record, str((data or {}).get("said", ""))))
        return found

    async def _create_group(self, group: str) -> None:
        try:
            # from the start of the feed: a new group (a newly configured agents' channel) sees the
            # hand-overs still in it, and none recorded while it was starting is missed
            await self.client.xgroup_create(self.feed_key, group, id="0", mkstream=True)
        except ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise
        self._groups.add(group)

    async def acknowledge(self, group: str, entry_id: str) -> None:
        async with unavailable_as_store_error():
            await self.client.xack(self.feed_key, group, entry_id)

    async def get(self, user_id: str, escalation_id: str) -> Escalation | None:
        async with unavailable_as_store_error():
            data = await self.client.hgetall(self.record_key(user_id, escalation_id))
        return _parse({str(k): str(v) for k, v in data.items()}) if data else None

    async def note_agent_reply(self, user_id: str, escalation_id: str) -> None:
        async with unavailable_as_store_error():
            await self._replied(keys=[self.record_key(user_id, escalation_id)], args=[str(time.time())])

    def post_key(self, channel: str, ts: str) -> str:
        return f"{self.prefix}:escalations:post:{channel}:{ts}"

    async def note_post(self, user_id: str, escalation_id: str, channel: str, ts: str) -> None:
        """Where the record was posted for agents, so a reply in that post's thread finds it."""
        async with unavailable_as_store_error(), self.client.pipeline(transaction=True) as pipe:
            pipe.set(self.post_key(channel, ts), _member(user_id, escalation_id), ex=self.ttl_seconds)
            pipe.hset(self.record_key(user_id, escalation_id), "agents_post", f"{channel}:{ts}")
            await pipe.execute()

    async def posted(self, channel: str, ts: str) -> Escalation | None:
        """The record whose agents' post is this message, if any."""
        async with unavailable_as_store_error():
            member = await self.client.get(self.post_key(channel, ts))
        if not member:
            return None
        user, _, escalation_id = str(member).rpartition("/")
        return await self.get(unquote(user), escalation_id)

    async def list(self, state: str, limit: int = 100) -> list[Escalation]:
        """Oldest first: the order agents should take them in. Index entries whose record expired or
        was erased are dropped from the index as they are met."""
        if state not in STATES:
            raise EscalationError(f"state must be one of {', '.join(STATES)}")
        if limit < 1:
            return []
        async with unavailable_as_store_error():
            members = await self.client.zrange(self.index_key(state), 0, limit - 1)
            found: list[Escalation] = []
            for member in map(str, members):
                user, _, escalation_id = member.rpartition("/")
                record = await self.get(unquote(user), escalation_id)
                if record is None:
                    await self.client.zrem(self.index_key(state), member)
                else:
                    found.append(record)
        return found

    async def claim(self, user_id: str, escalation_id: str, agent: str) -> Escalation:
        return await self._transition(user_id, escalation_id, "open", "claimed", agent)

    async def resolve(self, user_id: str, escalation_id: str, agent: str) -> Escalation:
        return await self._transition(user_id, escalation_id, "claimed", "resolved", agent)

    async def _transition(self, user_id: str, escalation_id: str, source: str, target: str, agent: str) -> Escalation:
        if not agent:
            raise EscalationError("an agent must be named")
        keys = [self.record_key(user_id, escalation_id), self.index_key(source), self.index_key(target), self.feed_key]
        args = [source, target, agent, str(time.time()), _member(user_id, escalation_id), str(FEED_LENGTH)]
        async with unavailable_as_store_error():
            outcome = str(await self._move(keys=keys, args=args))
        if outcome == "missing":
            raise EscalationError(f"no escalation {escalation_id} for that user")
        if outcome == "not_yours":
            raise EscalationError(f"escalation {escalation_id} is claimed by someone else")
        if outcome != "ok":
            raise EscalationError(f"escalation {escalation_id} is {outcome}, not {source}")
        record = await self.get(user_id, escalation_id)
        if record is None:
            raise EscalationError(f"escalation {escalation_id} disappeared")
        return record

    async def forget_user(self, user_id: str) -> int:
        """Remove a user's escalations from the indexes (their records go with the user's other keys)."""
        removed = 0
        pattern = f"{self.prefix}:user:{quote(user_id, safe='')}:escalation:*"
        async for key in self.client.scan_iter(match=pattern, count=500):
            if str(key).endswith(":said"):  # what the customer said to the agent: a list beside the record
                await self.client.delete(key)
                continue
            escalation_id = str(key).rsplit(":", 1)[-1]
            channel, _, ts = str(await self.client.hget(key, "agents_post") or "").partition(":")
            if ts:
                await self.client.delete(self.post_key(channel, ts))
            for state in STATES:
                removed += int(await self.client.zrem(self.index_key(state), _member(user_id, escalation_id)))
            await self.client.delete(key)
        await self._drop_from_feed(user_id)
        return removed

    async def _drop_from_feed(self, user_id: str) -> None:
        """Erasure reaches the feed too: its entries name the user."""
        prefix = f"{quote(user_id, safe='')}/"
        start = "-"
        while True:
            batch: Any = await self.client.xrange(self.feed_key, min=start, count=1000)
            if not batch:
                return
            doomed = [entry_id for entry_id, data in batch if str((data or {}).get("member", "")).startswith(prefix)]
            if doomed:
                await self.client.xdel(self.feed_key, *doomed)
            if len(batch) < 1000:
                return
            start = "(" + str(batch[-1][0])


def _active(acted: list[Any], now: float) -> bool:
    """Is a claim alive: its agent acted within REPEAT_WINDOW_S (records kept before `agent_at`: their last
    change)? The customer writing does not keep it alive: an agent who left does not silence the assistant."""
    agent_at, updated_at = (float(value or 0) for value in acted)
    return now - (agent_at or updated_at) < REPEAT_WINDOW_S


def _parse(data: dict[str, str]) -> Escalation:
    return Escalation(
        id=data["id"],
        channel=data["channel"],
        conversation_id=data["conversation_id"],
        user_id=data["user_id"],
        message_id=data["message_id"],
        reason=data["reason"],
        question=data["question"],
        reply=data["reply"],
        state=data["state"],
        created_at=float(data["created_at"]),
        updated_at=float(data["updated_at"]),
        claimed_by=data.get("claimed_by", ""),
        sources=tuple(json.loads(data.get("sources") or "[]")),
        confidence=float(data.get("confidence") or 0.0),
        repeats=int(data.get("repeats") or 0),
        customer_messages=int(data.get("customer_messages") or 0),
        latest_question=data.get("latest_question", ""),
        language=data.get("language", ""),
        agent_replies=int(data.get("agent_replies") or 0),
        agents_post=data.get("agents_post", ""),
        agent_at=float(data.get("agent_at") or 0.0),
        earlier=_earlier(data.get("earlier") or "[]"),
    )


def _earlier(raw: str) -> tuple[Earlier, ...]:
    """The kept entries; an unreadable field (written by hand, or by a later version) reads as none."""
    try:
        entries = json.loads(raw)
        return tuple(Earlier(str(e["role"]), str(e["text"])) for e in entries)
    except (ValueError, TypeError, KeyError):
        return ()
