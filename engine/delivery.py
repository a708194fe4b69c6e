"""Replies are addressed by conversation: whoever holds the conversation's subscription delivers them.

On one machine this is an in-process bus; a later Redis Streams / pub-sub bus implements the same
`ReplyPublisher` and `subscribe` so a worker process can answer a message that a web process received.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from engine.pipeline import Engine
from engine.protocols import ReplyPublisher
from engine.replies import reply_text
from engine.types import ConversationRef, EventKind, Message, ReplyEvent

log = logging.getLogger(__name__)


class ReplySubscriber(Protocol):
    def subscribe(self, conversation: ConversationRef) -> AbstractAsyncContextManager[asyncio.Queue[ReplyEvent]]:
        """Every event published for the conversation while the context is open, in order."""
        ...


class ReplyBus(ReplyPublisher, ReplySubscriber, Protocol):
    """What the Dispatcher delivers through: in-process here, Redis Streams / pub-sub across processes."""


BUSY_TEXT = reply_text("busy")


class Busy(Exception):
    """More messages are waiting than `max_pending`; the caller should ask the customer to retry
    (channels that talk to people say `text`, in the customer's language; REST answers 429)."""

    def __init__(self, pending: int, retry_after_s: int = 5, text: str = BUSY_TEXT) -> None:
        super().__init__(f"{pending} messages are already waiting for a reply")
        self.retry_after_s = retry_after_s
        self.text = text


class LocalReplyBus:
    """Fan-out of ReplyEvents to every subscriber of a conversation, in this process."""

    def __init__(self, max_queue: int = 1024) -> None:
        self._subscribers: defaultdict[str, set[asyncio.Queue[ReplyEvent]]] = defaultdict(set)
        self._max_queue = max_queue

    async def publish(self, event: ReplyEvent) -> None:
        for queue in tuple(self._subscribers.get(event.conversation.key, ())):
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                log.warning("dropping reply event for a subscriber that stopped reading")

    @contextlib.asynccontextmanager
    async def subscribe(self, conversation: ConversationRef) -> AsyncIterator[asyncio.Queue[ReplyEvent]]:
        queue: asyncio.Queue[ReplyEvent] = asyncio.Queue(self._max_queue)
        key = conversation.key
        self._subscribers[key].add(queue)
        try:
            yield queue
        finally:
            self._subscribers[key].discard(queue)
            if not self._subscribers[key]:
                del self._subscribers[key]


class Dispatcher:
    """Runs the engine for a message and publishes each event to the conversation's address.

    At most `max_pending` messages are in flight; past that `submit` raises Busy, so a burst is told to
    come back instead of queueing without bound.
    """

    def __init__(self, engine: Engine, bus: ReplyBus, max_pending: int = 64) -> None:
        if max_pending < 1:
            raise ValueError("max_pending must be at least 1")
        self.engine = engine
        self.bus = bus
        self.max_pending = max_pending
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def pending(self) -> int:
        return len(self._tasks)

    def busy_text(self, text: str) -> str:
        """What a customer who sent `text` is told when too many messages wait: come back, in their language."""
        return reply_text("busy", self.engine.language_of(text))

    def _busy(self, message: Message) -> Busy:
        return Busy(len(self._tasks), text=self.busy_text(message.text))

    def submit(self, message: Message) -> asyncio.Task[None]:
        if len(self._tasks) >= self.max_pending:
            raise self._busy(message)
        task = asyncio.create_task(self._run(message), name=f"dispatch:{message.message_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, message: Message) -> None:
        async for event in self.engine.handle(message):
            await self.bus.publish(event)

    async def ask(self, message: Message) -> AsyncIterator[ReplyEvent]:
        """Submit and follow one message's events until its final reply (Busy when too many wait).

        Leaving early (the customer went away) cancels the message's pipeline: a message cancelled
        while it still waits for the model never reaches it.
        """
        if len(self._tasks) >= self.max_pending:
            raise self._busy(message)
        async with self.bus.subscribe(message.conversation) as queue:
            task = self.submit(message)
            finished = False
            try:
                while True:
                    event = await queue.get()
                    if event.message_id != message.message_id:
                        continue
                    yield event
                    if event.kind is EventKind.FINAL:
                        finished = True
                        return
            finally:
                if not finished and not task.done():
                    task.cancel()

    async def drain(self) -> None:
        """Let in-flight messages finish (used at shutdown so no accepted message is lost)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
