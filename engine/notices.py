"""Proactive notices: an order changed (delayed, delivered…) and the customer is told where they last
talked to us, with buttons to act on it. Each event is delivered once (the ingress ledger), and a
delivery that failed is released so the sender's retry delivers it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from engine.protocols import EventSink, IngressLedger, MemoryStore, StoreUnavailable
from engine.tools import fact_text, render
from engine.types import Action, ConversationRef, HistoryEntry, Reply, Turn

log = logging.getLogger(__name__)

NOTICE_TEXT: dict[str, tuple[str, ...]] = {
    "shipped": ("Good news: your order {order_id} has shipped.", "Estimated delivery: {eta}."),
    "delayed": ("Update on your order {order_id}: it is delayed, sorry.", "The new estimated delivery is {eta}."),
    "out_for_delivery": ("Your order {order_id} is out for delivery today.",),
    "delivered": ("Your order {order_id} has been delivered.",),
    "cancelled": ("Your order {order_id} has been cancelled.",),
    "refunded": ("The refund for your order {order_id} has been issued.",),
}
KINDS = frozenset(NOTICE_TEXT)


@dataclass(frozen=True, slots=True)
class OrderEvent:
    event_id: str
    kind: str  # one of KINDS
    order_id: str
    user_id: str
    eta: str = ""  # ISO date, when the system has one


class AddressBook(Protocol):
    """Each user's last conversation (channel and id); raises StoreUnavailable."""

    async def note(self, conversation: ConversationRef) -> None: ...

    async def last(self, user_id: str) -> ConversationRef | None: ...


class Notifier(Protocol):
    """Sends a notice into a conversation of its channel; raises on failure (the sender retries)."""

    async def notify(self, conversation: ConversationRef, reply: Reply, notice_id: str) -> None: ...


class NoteAddress:
    """After each reply: this conversation is where the user can be reached now."""

    after_reply = True

    def __init__(self, addresses: AddressBook) -> None:
        self.addresses = addresses

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        try:
            await self.addresses.note(turn.message.conversation)
        except StoreUnavailable:
            log.warning("could not note where message %s came from", turn.message.message_id)
        return turn


class Notices:
    def __init__(
        self,
        addresses: AddressBook,
        notifiers: Mapping[str, Notifier],
        ledger: IngressLedger,
        memory: MemoryStore,
        offers: Mapping[str, tuple[tuple[str, str], ...]],
        redact: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        self.addresses = addresses
        self.notifiers = notifiers
        self.ledger = ledger
        self.memory = memory
        self.offers = offers  # kind → (label, action) buttons, each carrying the order number
        self.redact = redact  # history keeps placeholders, as for every message

    def reply(self, event: OrderEvent) -> Reply:
        text = render(NOTICE_TEXT[event.kind], {"order_id": event.order_id, "eta": fact_text(event.eta)})
        actions = tuple(
            Action(label, action, value=event.order_id) for label, action in self.offers.get(event.kind, ())
        )
        return Reply(text, (), actions, 1.0, "order_notice", "customer", False, f"notice:{event.kind}")

    async def deliver(self, event: OrderEvent) -> str:
        """`delivered`, `logged` (no channel reaches the user: kept in the log only), `duplicate` (done
        before) or `in_progress` (another delivery of it is running: the sender should retry later, since
        that one may still fail). Raises StoreUnavailable or the notifier's error; the event is then
        released, so the sender's retry delivers it."""
        key = f"notice:{event.event_id}"
        if not await self.ledger.claim(key):
            return "duplicate" if await self.ledger.state(key) == "done" else "in_progress"
        try:
            outcome = await self._send(event)
        except BaseException:
            await self.ledger.release(key)
            raise
        try:
            await self.ledger.done(key)
        except StoreUnavailable:  # sent: a retry after the lease expires would send it again, but saying
            log.error("notice %s sent but not marked done", event.event_id)  # "failed" would make it certain
        return outcome

    async def _send(self, event: OrderEvent) -> str:
        reply = self.reply(event)
        address = await self.addresses.last(event.user_id)
        notifier = self.notifiers.get(address.channel) if address is not None else None
        if address is None or notifier is None:
            where = address.channel if address is not None else "no"
            log.info("notice %s (%s): %s conversation to deliver it to; logged only", event.event_id, event.kind, where)
            return "logged"
        await notifier.notify(address, reply, event.event_id)
        try:  # the notice is out: a history write that fails must not make the sender deliver it twice
            kept = await self.redact(reply.text) if self.redact is not None else reply.text
            await self.memory.append(address, [HistoryEntry("assistant", kept, time.time())])
        except StoreUnavailable:
            log.warning("notice %s delivered but not added to the conversation's history", event.event_id)
        return "delivered"
