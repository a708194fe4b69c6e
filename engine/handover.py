"""Keeping the promise of a hand-over: every reply that says a person will follow up is recorded.

`HandOver` is the stage that records escalated replies; `FailureFollowUp` does the same when the
pipeline itself failed or ran out of time, and keeps the customer's message in the conversation's
history. A store that is down never costs the customer their reply: the write is retried in the
background (`BackgroundRetries`) and logged with the message id, never with the message text.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Container, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

from engine.history import recent
from engine.protocols import EscalationRecorder, EventSink, MemoryStore, Redactor, StoreUnavailable
from engine.replies import reply_text
from engine.text import clean_text, restore
from engine.types import ConversationRef, HistoryEntry, Message, Reply, Turn

log = logging.getLogger(__name__)
WITHHELD = "[message not kept: it could not be checked for personal data]"
REDACT_WITHIN_S = 2.0


class BackgroundRetries:
    """Retries writes that failed because a store was down, with exponential backoff, off the reply path."""

    def __init__(self, attempts: int = 5, first_delay_s: float = 0.5) -> None:
        self.attempts = attempts
        self.first_delay_s = first_delay_s
        self._tasks: set[asyncio.Task[None]] = set()

    def schedule(self, write: Callable[[], Awaitable[object]], what: str, message_id: str) -> None:
        task = asyncio.create_task(self._retry(write, what, message_id), name=f"retry:{what}:{message_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retry(self, write: Callable[[], Awaitable[object]], what: str, message_id: str) -> None:
        delay = self.first_delay_s
        for attempt in range(1, self.attempts + 1):
            await asyncio.sleep(delay)
            try:
                await write()
            except StoreUnavailable:
                delay *= 2
                continue
            log.info("%s for message %s written on retry %d", what, message_id, attempt)
            return
        log.error("gave up writing %s for message %s after %d retries", what, message_id, self.attempts)

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self) -> None:
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def write_or_retry(
    write: Callable[[], Awaitable[object]], retries: BackgroundRetries, what: str, message_id: str
) -> None:
    try:
        await write()
    except StoreUnavailable:
        log.warning("could not write %s for message %s now; retrying in the background", what, message_id)
        retries.schedule(write, what, message_id)


RELAYED_INTENT = "relayed_to_agent"


class HeldConversations(Protocol):
    """memory.escalations.RedisEscalationStore: the record of the agent holding the conversation, with the
    message added to it, or None when nobody does; raises StoreUnavailable."""

    async def relay(self, conversation: ConversationRef, text: str) -> object | None: ...


class PersonHolds:
    """While a person of the support team holds the conversation (they claimed its hand-over and it was active
    within a day), the assistant does not talk over them: the customer's message goes to that person (the
    hand-over's record, the agents' channel) and the customer is told so. A guard's reply and button clicks
    ("Talk to a human", an order's buttons) go their usual way. Only where an agent's reply can reach the
    customer (`reachable`: the channels with a notifier): elsewhere (a REST back end without a callback, the
    terminal) the assistant keeps answering rather than promise a reply that cannot come."""

    def __init__(
        self, held: HeldConversations, reachable: Container[str], agents_see: Container[str] = frozenset()
    ) -> None:
        self.held = held
        self.reachable = reachable  # the runtime's notifiers, which Slack joins once built
        self.agents_see = agents_see  # kinds of personal data the agent reads as written (an order number)

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        if turn.settled or turn.message.action or turn.message.conversation.channel not in self.reachable:
            return turn
        # the agent helping this customer reads what they need (the order number they asked for); cards, ids
        # and secrets stay placeholders
        text = restore(turn.message.text, [item for item in turn.vault if item.entity in self.agents_see])
        try:
            holder = await self.held.relay(turn.message.conversation, text)
        except StoreUnavailable:  # cannot tell: the assistant answers rather than leave the customer unheard
            log.warning("could not tell whether a person holds the conversation of message %s", turn.message.message_id)
            return turn
        if holder is None:
            return turn
        language = turn.speaks
        text = reply_text("relayed", language)
        reply = Reply(text, (), (), 1.0, RELAYED_INTENT, "customer", False, "held by a person", language=language)
        return turn.evolve(reply=reply, settled=True)


@dataclass(frozen=True, slots=True)
class EarlierReading:
    """Where a hand-over reads what was said before it when the turn did not (a guard answered before
    Recall, or the pipeline failed): the same entries and idle rule as Recall."""

    memory: MemoryStore
    entries: int
    idle_s: float
    within_s: float = 1.0  # the customer's hand-over reply waits for its record: a slow store costs this only

    async def read(self, conversation: ConversationRef) -> tuple[HistoryEntry, ...]:
        try:
            async with asyncio.timeout(self.within_s):
                return await recent(self.memory, conversation, self.entries, self.idle_s)
        except (StoreUnavailable, TimeoutError):
            log.warning(
                "the hand-over of a message in %s is recorded without what was said before", conversation.channel
            )
            return ()


def as_earlier(history: Sequence[HistoryEntry]) -> list[tuple[str, str]]:
    return [("customer" if e.role == "user" else "assistant", e.text) for e in history]


class HandOver:
    """Records an escalation for every reply that hands the conversation to a person."""

    after_reply = True  # runs also when a guard settled the reply

    def __init__(
        self, recorder: EscalationRecorder, retries: BackgroundRetries, earlier: EarlierReading | None = None
    ) -> None:
        self.recorder = recorder
        self.retries = retries
        self.earlier = earlier

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        reply = turn.reply
        if reply is not None and reply.escalated:
            history = turn.history
            if not history and turn.settled and self.earlier is not None:  # a guard answered before Recall
                history = await self.earlier.read(turn.message.conversation)
            await record_escalation(self.recorder, self.retries, turn.message, reply, as_earlier(history))
        return turn


async def record_escalation(
    recorder: EscalationRecorder,
    retries: BackgroundRetries,
    message: Message,
    reply: Reply,
    earlier: Sequence[tuple[str, str]] = (),
) -> None:
    """`earlier`: the conversation before this message as history keeps it (redacted), for the agent."""

    async def write() -> object:
        return await recorder.open(
            message.conversation,
            message.message_id,
            reply.reason or reply.intent,
            message.text,
            reply.text,
            reply.sources,
            reply.confidence,
            reply.language or "",  # the customer's, for the agent who answers ("" when it could not be told)
            earlier,
        )

    await write_or_retry(write, retries, "escalation", message.message_id)


class FailureFollowUp:
    """After a failed or timed-out pipeline: keep the customer's message in history, record the escalation."""

    def __init__(
        self,
        memory: MemoryStore,
        recorder: EscalationRecorder,
        retries: BackgroundRetries,
        redactor: Redactor | None = None,
        earlier: EarlierReading | None = None,
    ) -> None:
        self.memory = memory
        self.recorder = recorder
        self.retries = retries
        self.redactor = redactor  # the pipeline may have failed before it redacted: kept text is redacted here
        self.earlier = earlier

    async def __call__(self, message: Message, reply: Reply) -> None:
        # read while the message is checked for personal data: the customer's hand-over reply waits for both
        reading = asyncio.create_task(self.earlier.read(message.conversation)) if self.earlier is not None else None
        try:
            message = await self._redacted(message)
            said = await reading if reading is not None else ()  # before this message's own entries are kept
        finally:
            if reading is not None and not reading.done():  # cancelled meanwhile: nothing left behind
                reading.cancel()
        entries = [HistoryEntry("user", clean_text(message.text)), HistoryEntry("assistant", reply.text)]

        async def remember() -> None:
            await self.memory.append(message.conversation, entries)

        await write_or_retry(remember, self.retries, "history", message.message_id)
        await record_escalation(self.recorder, self.retries, message, reply, as_earlier(said))

    async def _redacted(self, message: Message) -> Message:
        if self.redactor is None:
            return message
        try:  # bounded: the customer's hand-over reply waits for this record
            async with asyncio.timeout(REDACT_WITHIN_S):
                redacted, _ = await asyncio.to_thread(self.redactor.redact, clean_text(message.text))
        except Exception:  # never keep what could not be checked (a timeout included)
            log.exception("could not check message %s for personal data; its text is not kept", message.message_id)
            redacted = WITHHELD
        return replace(message, text=redacted)
