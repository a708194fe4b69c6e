"""The engine: runs the stage list for one message and streams ReplyEvents back."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Container, Sequence

from engine.language import LANGUAGES, reply_language
from engine.protocols import EventSink, Stage
from engine.replies import escalate_action, handover_text, label_language
from engine.types import EventKind, Message, Reply, ReplyEvent, Turn

log = logging.getLogger(__name__)

FailureHandler = Callable[[Message, Reply], Awaitable[None]]


class _QueueSink(EventSink):
    def __init__(self, message: Message, queue: asyncio.Queue[ReplyEvent]) -> None:
        self._message = message
        self._queue = queue

    async def status(self, text: str) -> None:
        await self._queue.put(ReplyEvent.status(self._message, text))

    async def token(self, text: str) -> None:
        if text:
            await self._queue.put(ReplyEvent.token(self._message, text))


class NoEvents:
    """A sink that drops status lines and tokens: for running a stage outside the engine (tests, benches)."""

    async def status(self, text: str) -> None:
        return None

    async def token(self, text: str) -> None:
        return None


class Engine:
    """`handle(message)` yields status and token events, then exactly one final event.

    `deadline_s` bounds one message end to end: past it the customer gets the hand-over reply instead of
    silence. `on_failure` runs after a failed or timed-out pipeline (history, escalation record).
    `reply_language` is what fixed replies are written in: "auto" (the customer's, when it can be told) or
    one of `engine.language.LANGUAGES`.
    """

    def __init__(
        self,
        stages: Sequence[Stage],
        deadline_s: float | None = None,
        on_failure: FailureHandler | None = None,
        reply_language: str = "auto",
        reachable: Container[str] | None = None,
    ) -> None:
        if not stages:
            raise ValueError("an engine needs at least one stage")
        if deadline_s is not None and deadline_s <= 0:
            raise ValueError("deadline_s must be positive")
        if reply_language != "auto" and reply_language not in LANGUAGES:
            raise ValueError(f"reply_language must be 'auto' or one of {', '.join(LANGUAGES)}")
        self.stages = tuple(stages)
        self.deadline_s = deadline_s
        self.on_failure = on_failure
        self.reply_language = reply_language
        # channels an agent's reply can reach (the runtime's notifiers, a live view); None: every channel
        self.reachable = reachable

    def language_of(self, text: str, default: str = "en") -> str:
        """The language fixed replies to a message of this text are written in (`default` when it cannot
        be told from the text)."""
        return reply_language(text, self.reply_language, default)

    async def run(self, message: Message, events: EventSink, spoken: list[str] | None = None) -> Reply:
        """The reply to `message`; `spoken` (when given) holds the language the turn settled on so far, for a
        failure reply to speak it too."""
        # untold ("ok", "agente por favor"), Recall may still tell it from the customer's earlier messages;
        # a click carries the label of one of our buttons, which was written in the reply's language
        clicked = label_language(message.text) if message.action and self.reply_language == "auto" else None
        language = clicked or self.language_of(message.text, default="")
        turn = Turn(message=message, language=language, way_back=self.way_back(message))
        for stage in self.stages:
            if turn.settled and not getattr(stage, "after_reply", False):
                continue  # a guard answered: understanding and answering are skipped, recording is not
            turn = await stage(turn, events)
            if spoken is not None:
                spoken[:] = [turn.speaks]
        if turn.reply is None:
            raise RuntimeError("the pipeline finished without a reply; is a decide stage missing?")
        return turn.reply

    async def handle(self, message: Message) -> AsyncIterator[ReplyEvent]:
        queue: asyncio.Queue[ReplyEvent] = asyncio.Queue(maxsize=256)
        sink = _QueueSink(message, queue)

        async def produce() -> None:
            failure = ""  # "error" or "deadline" when the pipeline did not give the reply
            spoken: list[str] = []
            try:
                async with asyncio.timeout(self.deadline_s) as limit:
                    reply = await self.run(message, sink, spoken)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                if not limit.expired():
                    log.exception("pipeline failed for message %s", message.message_id)
                    failure = "error"
                else:
                    log.error("message %s passed its %.1f s deadline", message.message_id, self.deadline_s)
                    failure = "deadline"
            except Exception:
                # Never leave a user without an answer: log (without the text, which may hold PII) and
                # hand over to a person.
                log.exception("pipeline failed for message %s", message.message_id)
                failure = "error"
            if failure:
                language = spoken[0] if spoken else self.language_of(message.text)
                reply = failure_reply(message, language, failure, self.way_back(message))
                # recorded before the final event: a consumer that stops after it cancels this task
                await self._follow_up(message, reply)
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

    def way_back(self, message: Message) -> bool:
        """Can an agent's reply reach this message's conversation?"""
        return self.reachable is None or message.conversation.channel in self.reachable

    async def _follow_up(self, message: Message, reply: Reply) -> None:
        if self.on_failure is None:
            return
        try:
            await self.on_failure(message, reply)
        except Exception:
            log.exception("could not record the failed message %s", message.message_id)


def failure_reply(message: Message, language: str = "en", reason: str = "error", way_back: bool = True) -> Reply:
    """The hand-over a customer gets when answering failed (`reason` "error") or took too long ("deadline")."""
    return Reply(
        text=handover_text("deadline" if reason == "deadline" else "failure", way_back, language),
        citations=(),
        actions=(escalate_action(language),),
        confidence=0.0,
        intent="error",
        user_role=message.user_role,
        escalated=True,
        reason=reason,
        language=language,
    )
