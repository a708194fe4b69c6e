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

from engine.pipeline import Engine
from engine.types import ConversationRef, EventKind, Message, ReplyEvent

log = logging.getLogger(__name__)


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
    """Runs the engine for a message and publishes each event to the conversation's address."""

    def __init__(self, engine: Engine, bus: LocalReplyBus) -> None:
        self.engine = engine
        self.bus = bus
        self._tasks: set[asyncio.Task[None]] = set()

    def submit(self, message: Message) -> asyncio.Task[None]:
        task = asyncio.create_task(self._run(message), name=f"dispatch:{message.message_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, message: Message) -> None:
        async for event in self.engine.handle(message):
            await self.bus.publish(event)

    async def ask(self, message: Message) -> AsyncIterator[ReplyEvent]:
        """Submit and follow one message's events until its final reply."""
        async with self.bus.subscribe(message.conversation) as queue:
            self.submit(message)
            while True:
                event = await queue.get()
                if event.message_id != message.message_id:
                    continue
                yield event
                if event.kind is EventKind.FINAL:
                    return

    async def drain(self) -> None:
        """Let in-flight messages finish (used at shutdown so no accepted message is lost)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
