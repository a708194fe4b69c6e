from __future__ import annotations

import asyncio
import io

import pytest

from bot.runtime import Runtime
from channels.terminal import Emphasis, chat, clicked_button
from engine import Action, ConversationRef, Dispatcher, Engine, LocalReplyBus, Message, Reply, Turn
from engine.delivery import BUSY_TEXT, Busy
from engine.protocols import EventSink
from engine.replies import reply_text


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


@pytest.mark.parametrize("setting", ["auto", "en"])
async def test_the_busy_reply_speaks_the_customers_language_unless_one_is_set(setting: str) -> None:
    slow = Slow()
    dispatcher = Dispatcher(Engine([slow], reply_language=setting), LocalReplyBus(), max_pending=1)
    holding = dispatcher.submit(Message(ConversationRef("other", "c", "u"), "first", message_id="m0"))
    lines = iter(["注文した商品がまだ届きません、どうなっていますか", "exit"])
    out = io.StringIO()
    await chat(dispatcher, "u1", "c1", read_line=lambda _: next(lines), out=out)
    assert (reply_text("busy", "ja") if setting == "auto" else BUSY_TEXT) in out.getvalue()
    with pytest.raises(Busy) as refused:
        dispatcher.submit(Message(ConversationRef("web", "c", "u"), "¿dónde está mi pedido?", message_id="m1"))
    assert refused.value.text == (reply_text("busy", "es") if setting == "auto" else BUSY_TEXT)
    slow.release.set()
    await holding


def test_an_unknown_reply_language_is_refused() -> None:
    with pytest.raises(ValueError, match="reply_language"):
        Engine([Slow()], reply_language="xx")


def test_typing_a_buttons_label_clicks_it() -> None:
    shown = (Action("Approve", "approve", value="token-1"), Action("Cancel", "cancel", value="token-1"))
    assert clicked_button("approve", shown) == shown[0]
    assert clicked_button(" [Cancel] ", shown) == shown[1]
    assert clicked_button("approve it", shown) is None
    assert clicked_button("approve", ()) is None


async def test_a_refund_is_requested_and_approved_in_the_terminal(runtime: Runtime) -> None:
    lines = iter(["hey can i get a refund on my order pls", "Approve", "exit"])
    out = io.StringIO()
    await chat(runtime.dispatcher, "demo", "terminal-refund", read_line=lambda _: next(lines), out=out)
    said = out.getvalue()
    assert "I can refund order BC-12377" in said
    assert "Actions: [Approve]  [Cancel]" in said
    assert "Done: order BC-12377 is refunded." in said
