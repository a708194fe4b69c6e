from __future__ import annotations

import asyncio
import io

import pytest

from channels.terminal import Emphasis, chat
from engine import ConversationRef, Dispatcher, Engine, LocalReplyBus, Message, Reply, Turn
from engine.delivery import BUSY_TEXT
from engine.protocols import EventSink


@pytest.mark.parametrize(
    "pieces",
    [
        ["You have **30 days** to return."],
        ["You have *", "*30 days*", "* to return."],
        list("You have **30 days** to return."),
    ],
)
def test_bold_is_rendered_however_the_stream_splits_it(pieces: list[str]) -> None:
    plain, ansi = Emphasis(ansi=False), Emphasis(ansi=True)
    assert "".join(plain.feed(p) for p in pieces) + plain.close() == "You have 30 days to return."
    rendered = "".join(ansi.feed(p) for p in pieces) + ansi.close()
    assert rendered == "You have \033[1m30 days\033[0m to return."


def test_single_stars_and_unclosed_bold_survive() -> None:
    emphasis = Emphasis(ansi=True)
    assert emphasis.feed("2 * 3 = 6 and **open") + emphasis.close() == "2 * 3 = 6 and \033[1mopen\033[0m"
    trailing = Emphasis(ansi=False)
    assert trailing.feed("ends with *") + trailing.close() == "ends with *"


class Slow:
    """A stage that keeps its message in flight until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        await self.release.wait()
        return turn.evolve(reply=Reply("done", (), (), 1.0, "test", "customer", False))


async def test_a_full_dispatcher_gets_the_busy_reply_and_the_chat_goes_on() -> None:
    slow = Slow()
    dispatcher = Dispatcher(Engine([slow]), LocalReplyBus(), max_pending=1)
    holding = dispatcher.submit(Message(ConversationRef("other", "c", "u"), "first", message_id="m0"))
    lines = iter(["are you there?", "exit"])
    out = io.StringIO()
    await chat(dispatcher, "u1", "c1", read_line=lambda _: next(lines), out=out)
    assert BUSY_TEXT in out.getvalue()
    slow.release.set()
    await holding
