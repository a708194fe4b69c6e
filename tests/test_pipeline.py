"""The engine's contract: status/token events stream first, exactly one final event, failures still answer."""

from __future__ import annotations

import asyncio

import pytest

from engine import ConversationRef, Dispatcher, Engine, EventKind, LocalReplyBus, Message, Reply, ReplyEvent, Turn
from engine.pipeline import NoEvents
from engine.protocols import EventSink
from engine.replies import reply_text


def message(text: str = "hello", conversation: str = "c1", user: str = "u1") -> Message:
    return Message(ConversationRef("test", conversation, user), text, message_id=f"m-{abs(hash((text, conversation)))}")


class Speak:
    """A stage that streams words, then replies with what it streamed."""

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        await events.status("thinking")
        words = turn.message.text.split()
        for word in words:
            await events.token(word + " ")
            await asyncio.sleep(0)  # let concurrent messages interleave on the bus
        reply = Reply(" ".join(words), (), (), 0.9, "echo", turn.message.user_role, False)
        return turn.evolve(reply=reply)


class Explode:
    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        raise ValueError("boom")


class Hang:
    def __init__(self) -> None:
        self.cancelled = asyncio.Event()

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        await events.token("partial")
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled.set()
            raise
        return turn


async def test_events_stream_in_order_and_end_with_one_final() -> None:
    events = [e async for e in Engine([Speak()]).handle(message("one two three"))]
    kinds = [e.kind for e in events]
    assert kinds == [EventKind.STATUS, EventKind.TOKEN, EventKind.TOKEN, EventKind.TOKEN, EventKind.FINAL]
    assert "".join(e.text for e in events if e.kind is EventKind.TOKEN) == "one two three "
    final = events[-1].reply
    assert final is not None
    assert final.text == "one two three"
    assert all(e.conversation == message().conversation for e in events)


async def test_a_failing_stage_still_yields_an_escalated_reply(caplog: pytest.LogCaptureFixture) -> None:
    events = [e async for e in Engine([Explode()]).handle(message("secret text"))]
    assert len(events) == 1
    reply = events[0].reply
    assert reply is not None
    assert reply.escalated
    assert reply.intent == "error"
    assert any(a.action == "escalate" for a in reply.actions)
    assert "pipeline failed for message" in caplog.text
    assert "secret text" not in caplog.text  # message text may hold PII: never logged


async def test_pipeline_without_decide_is_an_error_reply() -> None:
    class Nothing:
        async def __call__(self, turn: Turn, events: EventSink) -> Turn:
            return turn

    events = [e async for e in Engine([Nothing()]).handle(message())]
    assert events[-1].reply is not None
    assert events[-1].reply.escalated


async def test_closing_the_stream_cancels_the_pipeline() -> None:
    hang = Hang()
    stream = Engine([hang]).handle(message())
    first = await anext(stream)
    assert first.kind is EventKind.TOKEN
    await stream.aclose()  # type: ignore[attr-defined]
    await asyncio.wait_for(hang.cancelled.wait(), 5)


def test_an_engine_needs_stages() -> None:
    with pytest.raises(ValueError, match="at least one stage"):
        Engine([])


async def test_replies_are_delivered_by_conversation_not_by_request() -> None:
    bus = LocalReplyBus()
    dispatcher = Dispatcher(Engine([Speak()]), bus)
    target = message("for a watcher", conversation="shared")
    other = message("elsewhere", conversation="other")
    async with bus.subscribe(target.conversation) as watcher:
        dispatcher.submit(other)
        dispatcher.submit(target)
        await dispatcher.drain()
        received = []
        while not watcher.empty():
            received.append(watcher.get_nowait())
    assert received, "a subscriber of the conversation sees the reply without having sent the message"
    assert {e.message_id for e in received} == {target.message_id}
    assert received[-1].kind is EventKind.FINAL


async def test_ask_follows_only_its_own_message() -> None:
    dispatcher = Dispatcher(Engine([Speak()]), LocalReplyBus())
    first = message("first of two messages", conversation="same")
    second = message("second of two messages", conversation="same")

    async def follow(one: Message) -> list[ReplyEvent]:
        return [e async for e in dispatcher.ask(one)]

    # both at once in one conversation: each subscriber sees the other's events on the bus and skips them
    got_first, got_second = await asyncio.gather(follow(first), follow(second))
    assert {e.message_id for e in got_first} == {first.message_id}
    assert {e.message_id for e in got_second} == {second.message_id}
    assert got_second[-1].reply is not None
    assert got_second[-1].reply.text == "second of two messages"


class Tell:
    """A stage that replies with the language the engine settled for the turn before any stage ran."""

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        return turn.evolve(reply=Reply(turn.speaks, (), (), 1.0, "echo", turn.message.user_role, False))


async def test_a_click_on_one_of_our_buttons_speaks_the_language_of_its_label() -> None:
    click = Message(ConversationRef("test", "c1", "u1"), reply_text("approve", "de"), "m-click", action="approve")
    assert Engine([Tell()]).language_of(click.text, default="") == ""  # the word alone does not tell it
    assert (await Engine([Tell()]).run(click, NoEvents())).text == "de"
    fixed = Engine([Tell()], reply_language="fr")  # a fixed reply language wins over the label
    assert (await fixed.run(click, NoEvents())).text == "fr"


@pytest.mark.parametrize(
    ("channel", "promise"),
    [("web", "failure"), ("terminal", "failure_elsewhere"), ("rest", "failure_elsewhere")],
)
async def test_a_hand_over_promises_a_reply_here_only_where_an_agents_reply_can_come(
    channel: str, promise: str
) -> None:
    # the terminal chat and a REST back end without a callback were told "a person will follow up here";
    # no agent's reply could ever reach them
    reachable = {"web": object(), "mobile": object()}  # the runtime's notifiers, by channel
    engine = Engine([Explode()], reachable=reachable)
    failed = Message(
        ConversationRef(channel, "c1", "u1"),
        "hola, mi pedido todavía no ha llegado y necesito ayuda por favor",
        message_id="m-1",
    )
    [event] = [e async for e in engine.handle(failed)]
    assert event.reply is not None
    assert event.reply.text == reply_text(promise, "es")
    assert event.reply.escalated

    seen: list[bool] = []

    class Look:
        async def __call__(self, turn: Turn, events: EventSink) -> Turn:
            seen.append(turn.way_back)
            return turn.evolve(reply=Reply("ok", (), (), 1.0, "x", "customer", False))

    await Engine([Look()], reachable=reachable).run(failed, NoEvents())
    await Engine([Look()]).run(failed, NoEvents())  # not told: every channel can be reached
    assert seen == [channel == "web", True]
