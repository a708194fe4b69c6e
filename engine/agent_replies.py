"""A person of the support team answers a handed-over conversation, wherever the customer wrote from.

The hand-over reply promises "they will reply in this conversation": this is that reply's way there. It
goes through the same notifiers as order notices (the web widget's conversation, the mobile app's, the REST
back end's callback, a Slack direct message), once per `reply_id` (a retried request or Slack event sends
it once), by the agent who holds the hand-over: an open one is claimed by the agent who answers it first,
one claimed by someone else or already resolved is refused with the reason.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from engine.notices import Notifier
from engine.protocols import IngressLedger, MemoryStore, StoreUnavailable
from engine.text import clean_text
from engine.types import ConversationRef, HistoryEntry, Reply

log = logging.getLogger(__name__)

AGENT_INTENT = "agent_reply"
MAX_REPLY_CHARS = 4000
MAX_NAME_CHARS = 80


class AgentReplyError(ValueError):
    """A reply that cannot be sent; `code` says why (REST maps it to a status), the message says it to a person."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class HandOverRecord(Protocol):
    """What this reads of an escalation record (memory.escalations.Escalation)."""

    @property
    def id(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def claimed_by(self) -> str: ...

    @property
    def conversation(self) -> ConversationRef: ...


class HandOverDesk(Protocol):
    """memory.escalations.RedisEscalationStore; raises StoreUnavailable when Redis is down."""

    async def get(self, user_id: str, escalation_id: str) -> HandOverRecord | None: ...

    async def claim(self, user_id: str, escalation_id: str, agent: str) -> HandOverRecord: ...

    async def note_agent_reply(self, user_id: str, escalation_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Sent:
    status: str  # "delivered", "duplicate" (sent before under this reply id) or "in_progress" (being sent)
    reply_id: str
    channel: str
    claimed: bool = False  # the hand-over was open and is now the agent's


def agent_reply(text: str, agent_name: str) -> Reply:
    """The reply shape every surface shows; `agent` names the person (the widget's and app's label)."""
    return Reply(text, (), (), 1.0, AGENT_INTENT, "customer", False, "agent", agent=agent_name)


def checked_text(text: str) -> str:
    cleaned = clean_text(text)
    if not cleaned:
        raise AgentReplyError("invalid_field", "the reply is empty")
    if len(cleaned) > MAX_REPLY_CHARS:
        raise AgentReplyError(
            "text_too_long", f"the reply is {len(cleaned)} characters; the limit is {MAX_REPLY_CHARS}"
        )
    return cleaned


class AgentReplies:
    def __init__(
        self,
        desk: HandOverDesk,
        notifiers: Mapping[str, Notifier],
        ledger: IngressLedger,
        memory: MemoryStore,
        redact: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        self.desk = desk
        self.notifiers = notifiers  # by channel: the runtime's, which Slack joins once built
        self.ledger = ledger
        self.memory = memory
        self.redact = redact  # history keeps placeholders, as for every message

    async def send(
        self, user_id: str, escalation_id: str, agent: str, text: str, reply_id: str, agent_name: str = ""
    ) -> Sent:
        """Raises AgentReplyError (nothing was sent, and why), StoreUnavailable, or the notifier's error
        (nothing marked sent: the same reply id may be tried again)."""
        if not agent:
            raise AgentReplyError("missing_field", "an agent must be named")
        text = checked_text(text)
        shown_name = clean_text(agent_name)[:MAX_NAME_CHARS]
        record = await self.desk.get(user_id, escalation_id)
        if record is None:
            raise AgentReplyError("not_found", f"no escalation {escalation_id} for that user")
        conversation = record.conversation
        notifier = self.notifiers.get(conversation.channel)
        if notifier is None:
            raise AgentReplyError("unreachable", unreachable(conversation.channel))
        key = f"agent-reply:{escalation_id}:{reply_id}"
        # the text sent under this reply id: a retry is a duplicate; another text under it is a mistake
        # (a help desk reusing its ids) that must not pass silently as "already sent"
        as_sent = f"{key}:{hashlib.sha256(text.encode()).hexdigest()[:32]}"
        if await self.ledger.state(key) == "done":  # a retry of a reply sent, also after the record moved on
            return await self._duplicate(key, as_sent, reply_id, conversation.channel)
        refusal(record, agent)
        if not await self.ledger.claim(key):
            if await self.ledger.state(key) == "done":
                return await self._duplicate(key, as_sent, reply_id, conversation.channel)
            return Sent("in_progress", reply_id, conversation.channel)
        try:
            claimed = await self._hold(record, agent)
            await notifier.notify(conversation, agent_reply(text, shown_name), f"agent-{reply_id}")
        except BaseException:
            await self.ledger.release(key)
            raise
        await self._after(conversation, record, key, as_sent, text)
        return Sent("delivered", reply_id, conversation.channel, claimed)

    async def _duplicate(self, key: str, as_sent: str, reply_id: str, channel: str) -> Sent:
        # `key:texts` says the text was recorded: without it the reply was sent by a version that did not
        # record it, and a retry cannot be told from a reuse (taken as the retry it nearly always is)
        if await self.ledger.state(as_sent) != "done" and await self.ledger.state(f"{key}:texts") == "done":
            raise AgentReplyError(
                "reply_id_reused", f"reply id {reply_id} was already used for another text; nothing was sent"
            )
        return Sent("duplicate", reply_id, channel)

    async def _hold(self, record: HandOverRecord, agent: str) -> bool:
        """True when the agent claims it now; refused unless it is the agent's or still open."""
        if record.state != "open":
            return False
        user_id = record.conversation.user_id
        try:
            await self.desk.claim(user_id, record.id, agent)
        except ValueError:  # EscalationError: claimed a moment ago, by this agent's other reply or by another
            now = await self.desk.get(user_id, record.id)
            if now is None:
                raise AgentReplyError("not_found", f"escalation {record.id} is gone") from None
            refusal(now, agent)
            return False
        return True

    async def _after(
        self, conversation: ConversationRef, record: HandOverRecord, key: str, as_sent: str, text: str
    ) -> None:
        """Sent: what follows must not make a retry send it twice, so its failures are logged, not raised."""
        try:
            await self.ledger.done(as_sent)  # first: a retry that finds `key` done finds what it sent
            await self.ledger.done(f"{key}:texts")
            await self.ledger.done(key)
            await self.desk.note_agent_reply(conversation.user_id, record.id)
        except StoreUnavailable:
            log.error("an agent's reply on escalation %s was sent but not recorded", record.id)
        try:
            kept = await self.redact(text) if self.redact is not None else text
            await self.memory.append(conversation, [HistoryEntry("assistant", kept, time.time())])
        except StoreUnavailable:
            log.warning("an agent's reply on escalation %s is not in the conversation's history", record.id)


def refusal(record: HandOverRecord, agent: str) -> None:
    """Raises when the agent may not reply on this record: resolved, or another agent's."""
    if record.state == "resolved":
        raise AgentReplyError("resolved", f"escalation {record.id} is resolved; the customer can ask again")
    if record.state == "claimed" and record.claimed_by != agent:
        raise AgentReplyError("claimed", f"escalation {record.id} is claimed by {record.claimed_by}")


def unreachable(channel: str) -> str:
    if channel == "rest":
        return "REST customers are reached through notices.callback_url, which is not set"
    if channel == "slack":
        return "answer a Slack customer in Slack: in their thread, or in the hand-over's thread in the agents' channel"
    if channel == "terminal":
        return "a terminal conversation cannot be reached once its chat has ended"
    return f"no way to reach a {channel} customer is configured"
