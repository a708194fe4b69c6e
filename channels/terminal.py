"""Terminal channel: `switchboard chat` (streamed, interactive) and `switchboard ask` (one JSON object)."""

from __future__ import annotations

import asyncio
import sys
import threading
import uuid
from collections.abc import Callable, Sequence
from typing import TextIO

from engine.delivery import Busy, Dispatcher
from engine.types import Action, ConversationRef, EventKind, Message, Reply

CHANNEL = "terminal"
EXIT_WORDS = frozenset({"exit", "quit", "/exit", "/quit"})


def terminal_message(user_id: str, conversation_id: str, text: str, clicked: Action | None = None) -> Message:
    return Message(
        conversation=ConversationRef(CHANNEL, conversation_id, user_id),
        text=text,
        message_id=uuid.uuid4().hex,
        action=clicked.action if clicked else "",
        action_value=clicked.value if clicked else "",
    )


def clicked_button(text: str, shown: Sequence[Action]) -> Action | None:
    """Typing a button's label ("approve", "[Approve]") clicks it: the terminal's stand-in for a button."""
    typed = text.strip().strip("[]").strip().casefold()
    return next((a for a in shown if a.label.casefold() == typed), None)


class Emphasis:
    """Renders markdown `**bold**` in streamed text: ANSI bold on a terminal, plain text elsewhere.

    Stream-safe: a lone `*` is held until the next piece shows whether it starts a `**` pair.
    """

    def __init__(self, ansi: bool) -> None:
        self._on, self._off = ("\033[1m", "\033[0m") if ansi else ("", "")
        self._bold = False
        self._star = False

    def feed(self, text: str) -> str:
        out: list[str] = []
        for char in text:
            if self._star:
                self._star = False
                if char == "*":
                    out.append(self._off if self._bold else self._on)
                    self._bold = not self._bold
                    continue
                out.append("*")
            if char == "*":
                self._star = True
            else:
                out.append(char)
        return "".join(out)

    def close(self) -> str:
        tail = ("*" if self._star else "") + (self._off if self._bold else "")
        self._star = self._bold = False
        return tail


def render_footer(reply: Reply, out: TextIO) -> None:
    if reply.citations:
        out.write("\nSources:\n")
        for url in reply.sources:
            title = next(c.title for c in reply.citations if c.url == url)
            out.write(f"  - {title}: {url}\n")
    if reply.actions:
        out.write("Actions: " + "  ".join(f"[{a.label}]" for a in reply.actions) + "\n")
    if reply.escalated:
        out.write("(handed over to a human agent)\n")


async def read_line_in_background(read_line: Callable[[str], str], prompt: str) -> str:
    """`read_line` on a daemon thread: a blocked `input()` must not keep the process alive after Ctrl-C
    (the default executor's threads are joined at exit, so `asyncio.to_thread(input)` would wait for Enter)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[str] = loop.create_future()

    def deliver(result: str | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result or "")

    def worker() -> None:
        try:
            line, error = read_line(prompt), None
        except BaseException as raised:  # EOFError, KeyboardInterrupt: handed to the awaiting task
            line, error = None, raised
        try:
            loop.call_soon_threadsafe(deliver, line, error)
        except RuntimeError:  # the loop is gone: the chat already ended
            pass

    threading.Thread(target=worker, name="terminal-input", daemon=True).start()
    return await future


async def ask_once(dispatcher: Dispatcher, message: Message) -> Reply:
    async for event in dispatcher.ask(message):
        if event.kind is EventKind.FINAL and event.reply is not None:
            return event.reply
    raise RuntimeError("the engine ended without a reply")


async def chat(
    dispatcher: Dispatcher,
    user_id: str,
    conversation_id: str,
    read_line: Callable[[str], str] = input,
    out: TextIO = sys.stdout,
    assistant_name: str = "assistant",
) -> None:
    """Read questions until EOF or 'exit'; stream each answer token by token, then its sources."""
    out.write("Type a question, or 'exit' to leave. Type a button's label to click it.\n")
    shown: tuple[Action, ...] = ()
    while True:
        try:
            text = await read_line_in_background(read_line, "you> ")
        except (EOFError, KeyboardInterrupt):
            out.write("\n")
            return
        text = text.strip()
        if not text:
            continue
        if text.lower() in EXIT_WORDS:
            return
        out.write(f"{assistant_name}> ")
        out.flush()
        message = terminal_message(user_id, conversation_id, text, clicked_button(text, shown))
        try:
            shown = await _stream_reply(dispatcher, message, out)
        except Busy as busy:
            out.write(busy.text + "\n")
            out.flush()


async def _stream_reply(dispatcher: Dispatcher, message: Message, out: TextIO) -> tuple[Action, ...]:
    """Streams one answer; returns its buttons (the next line may click one)."""
    streamed = ""
    emphasis = Emphasis(ansi=out.isatty())
    async for event in dispatcher.ask(message):
        if event.kind is EventKind.TOKEN:
            streamed += event.text
            out.write(emphasis.feed(event.text))
            out.flush()
        elif event.kind is EventKind.FINAL and event.reply is not None:
            reply = event.reply
            shown = streamed.strip()
            # Show what the final reply adds to (or, if the draft was withdrawn, instead of) the stream.
            if not shown:
                rest = reply.text
            elif reply.text.startswith(shown):
                rest = reply.text[len(shown) :]
            else:
                rest = "\n" + reply.text
            out.write(emphasis.feed(rest) + emphasis.close() + "\n")
            render_footer(reply, out)
            out.flush()
            return reply.actions
    return ()
