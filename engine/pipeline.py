"""The engine: runs the stage list for one message and streams ReplyEvents back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

from engine.protocols import EventSink, Stage
from engine.types import Action, EventKind, Message, Reply, ReplyEvent, Turn

log = logging.getLogger(__name__)

FAILURE_TEXT = (
    "Sorry, something went wrong on our side while answering. I have passed your message to a human agent, "
    "who will follow up here."
)
ESCALATE_ACTION = Action(label="Talk to a human", action="escalate")


class _QueueSink(EventSink):
    def __init__(self, message: Message, queue: asyncio.Queue[ReplyEvent]) -> None:
        self._message = message
        self._queue = queue

    async def status(self, text: str) -> None:
        await self._queue.put(ReplyEvent.status(self._message, text))

    async def token(self, text: str) -> None:
        if text:
            await self._queue.put(ReplyEvent.token(self._message, text))


class Engine:
    """`handle(message)` yields status and token events, then exactly one final event."""

    def __init__(self, stages: Sequence[Stage]) -> None:
        if not stages:
            raise ValueError("an engine needs at least one stage")
        self.stages = tuple(stages)

    async def run(self, message: Message, events: EventSink) -> Reply:
        turn = Turn(message=message)
        for stage in self.stages:
            turn = await stage(turn, events)
        if turn.reply is None:
            raise RuntimeError("the pipeline finished without a reply; is a decide stage missing?")
        return turn.reply

    async def handle(self, message: Message) -> AsyncIterator[ReplyEvent]:
        queue: asyncio.Queue[ReplyEvent] = asyncio.Queue(maxsize=256)
        sink = _QueueSink(message, queue)

        async def produce() -> None:
            try:
                reply = await self.run(message, sink)
            except asyncio.CancelledError:
                raise
            except Exception:
                # Never leave a user without an answer: log (without the text, which may hold PII) and
                # hand over to a person.
                log.exception("pipeline failed for message %s", message.message_id)
                reply = failure_reply(message)
            await queue.put(ReplyEvent.final(message, reply))

        task = asyncio.create_task(produce(), name=f"engine:{message.message_id}")
        try:
            while True:
                event = await queue.get()
                yield event
                if event.kind is EventKind.FINAL:
                    break
        finally:
            if not task.done():
                task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def failure_reply(message: Message) -> Reply:
    return Reply(
        text=FAILURE_TEXT,
        citations=(),
        actions=(ESCALATE_ACTION,),
        confidence=0.0,
        intent="error",
        user_role=message.user_role,
        escalated=True,
    )
