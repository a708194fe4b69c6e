"""How an answer appears in a Slack thread while it streams: two ways, one interface.

`UpdatedMessage` posts a status line and edits it (at most once per interval) as tokens arrive;
`StreamedMessage` uses Slack's streaming methods (`chat.startStream` / `appendStream` / `stopStream`).
Either way the final reply's blocks are what stays: when the final text differs from what streamed (a
withdrawn draft), the message is replaced by it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack.blocks import escape, to_mrkdwn

log = logging.getLogger(__name__)


# the message to edit is gone or can no longer be edited: the reply goes in a new one
MESSAGE_GONE = frozenset({"message_not_found", "cant_update_message", "edit_window_closed"})
# errors that no retry mends: the reply's blocks or metadata are refused (the text alone is then sent)
REFUSED_CONTENT = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "msg_too_long",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "metadata_too_large",
        "too_many_blocks",
    }
)


def refused_content(error: SlackApiError) -> bool:
    return str(error.response.get("error")) in REFUSED_CONTENT


def message_gone(error: SlackApiError) -> bool:
    return str(error.response.get("error")) in MESSAGE_GONE


Started = Callable[[str], Awaitable[None]]  # told the answer's message ts as soon as there is one


class Surface(Protocol):
    ts: str  # the message the answer is in, once there is one
    started: Started | None

    async def begin(self) -> None: ...

    def adopt(self, ts: str) -> None:
        """Answer in a message an earlier delivery of the same post already started, instead of a new one."""
        ...

    async def progress(self, streamed: str) -> None:
        """Everything streamed so far (called for every token; implementations pace themselves)."""
        ...

    async def finish(self, answer: str, text: str, blocks: list[dict[str, Any]], metadata: dict[str, Any]) -> None:
        """`answer` is the final reply's own text; `text` its escaped notification fallback."""
        ...

    async def say(self, text: str) -> None:
        """A short plain message in place of an answer (busy)."""
        ...


class UpdatedMessage:
    def __init__(
        self, client: AsyncWebClient, channel: str, thread: str, status: str, interval_s: float, retry: Retry
    ) -> None:
        self.client, self.channel, self.thread = client, channel, thread
        self.status, self.interval_s, self.retry = status, interval_s, retry
        self.ts = ""
        self.started: Started | None = None
        self._progress_client = without_rate_limit_waits(client)
        self._shown = ""
        self._last = 0.0

    async def begin(self) -> None:
        posted = await self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread, text=self.status)
        self.ts, self._last = str(posted["ts"]), time.monotonic()
        if self.started is not None:
            await self.started(self.ts)

    def adopt(self, ts: str) -> None:
        self.ts, self._last = ts, time.monotonic()

    async def progress(self, streamed: str) -> None:
        if time.monotonic() - self._last < self.interval_s or streamed == self._shown:
            return
        self._shown, self._last = streamed, time.monotonic()
        try:  # progress only: a refused or rate-limited edit is skipped (never waited for); the final reply comes
            await self._progress_client.chat_update(channel=self.channel, ts=self.ts, text=to_mrkdwn(streamed) + " …")
        except SlackApiError as error:
            log.warning("slack refused a streamed update: %s", error.response.get("error"))

    async def finish(self, answer: str, text: str, blocks: list[dict[str, Any]], metadata: dict[str, Any]) -> None:
        await replace_message(self.client, self.channel, self.ts, text, blocks, metadata, self.retry)

    async def say(self, text: str) -> None:
        await self.client.chat_update(channel=self.channel, ts=self.ts, text=text)


class StreamedMessage:
    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        thread: str,
        recipient: tuple[str, str],
        status: str,
        interval_s: float,
        retry: Retry,
    ) -> None:
        self.client, self.channel, self.thread = client, channel, thread
        self.team, self.user = recipient
        self.status, self.interval_s, self.retry = status, interval_s, retry
        self.ts = ""
        self.started: Started | None = None
        self._progress_client = without_rate_limit_waits(client)
        self._sent = ""
        self._latest = ""
        self._last = 0.0

    def adopt(self, ts: str) -> None:
        self.ts = ts  # a stream an earlier delivery started: ended, then replaced by the final reply

    async def begin(self) -> None:
        try:  # the assistant thread status where the app has one; harmless to skip elsewhere
            await self.client.assistant_threads_setStatus(
                channel_id=self.channel, thread_ts=self.thread, status=self.status
            )
        except SlackApiError:
            pass

    async def _start(self) -> None:
        started = await self.client.chat_startStream(
            channel=self.channel, thread_ts=self.thread, recipient_team_id=self.team, recipient_user_id=self.user
        )
        self.ts = str(started["ts"])
        if self.started is not None:  # noted at once: a later delivery must end this stream, not start another
            await self.started(self.ts)

    async def progress(self, streamed: str, force: bool = False) -> None:
        self._latest = streamed
        if (time.monotonic() - self._last < self.interval_s and not force) or not streamed.startswith(self._sent):
            return
        delta = streamed[len(self._sent) :]
        if not delta:
            return
        self._last = time.monotonic()
        try:
            if not self.ts:
                await self._start()
            await self._progress_client.chat_appendStream(channel=self.channel, ts=self.ts, markdown_text=escape(delta))
            self._sent = streamed
        except SlackApiError as error:
            log.warning("slack refused a stream append: %s", error.response.get("error"))

    async def finish(self, answer: str, text: str, blocks: list[dict[str, Any]], metadata: dict[str, Any]) -> None:
        adopted = bool(self.ts) and not self._sent  # an earlier delivery's stream: its text is not known here

        async def stop() -> None:
            if not self.ts:
                await self._start()
            # the streamed text is the answer; the blocks below it add sources, buttons and feedback
            extras = [b for b in blocks if b.get("type") != "section"]
            try:
                await self.client.chat_stopStream(channel=self.channel, ts=self.ts, blocks=extras, metadata=metadata)
            except SlackApiError as error:
                if adopted:
                    return  # most likely stopped already; the replacement below is what counts
                if not refused_content(error):
                    raise
                await self.client.chat_stopStream(channel=self.channel, ts=self.ts)

        if not adopted:  # an adopted stream is ended as it is, then replaced by the reply below
            if not self._latest:
                self._latest = answer  # a reply that streamed no tokens (a hand-over, a greeting) is the stream
            if self._latest != self._sent:
                await self.progress(self._latest, force=True)  # what the pacing held back, before the stream ends
        await self.retry(stop)
        # the final reply is authoritative
        if adopted or (self._sent.strip() and self._sent.strip() != answer.strip()):
            await replace_message(self.client, self.channel, self.ts, text, blocks, {}, self.retry)

    async def say(self, text: str) -> None:
        await self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread, text=text)


async def replace_message(
    client: AsyncWebClient,
    channel: str,
    ts: str,
    text: str,
    blocks: list[dict[str, Any]],
    metadata: dict[str, Any],
    retry: Retry,
) -> None:
    """The message becomes the final reply; when Slack refuses its blocks or metadata (no retry mends that),
    the reply's text alone, so the customer is never left with a status line."""

    async def update() -> None:
        await client.chat_update(channel=channel, ts=ts, text=text, blocks=blocks, metadata=metadata or None)

    async def text_only() -> None:
        await client.chat_update(channel=channel, ts=ts, text=text)

    try:
        await retry(update)
    except SlackApiError as error:
        if not refused_content(error):
            raise
        log.warning("slack refused the reply's blocks (%s); sending its text alone", error.response.get("error"))
        await retry(text_only)


def without_rate_limit_waits(client: AsyncWebClient) -> AsyncWebClient:
    """The same client minus the 429 handler: a progress update is worth skipping, not waiting for."""
    handlers = [h for h in client.retry_handlers if not isinstance(h, AsyncRateLimitErrorRetryHandler)]
    return AsyncWebClient(
        token=client.token,
        base_url=client.base_url,
        timeout=client.timeout,
        session=client.session,
        headers=client.headers,
        team_id=getattr(client, "team_id", None),
        retry_handlers=handlers,
    )


class Retry(Protocol):
    async def __call__(self, send: Any) -> None: ...


def backoff(attempts: int, first_delay_s: float, what: str) -> Retry:
    """A final reply Slack keeps refusing (past the client's own retries) is tried again, doubling the wait."""

    async def retry(send: Any) -> None:
        delay = first_delay_s
        for attempt in range(1, attempts + 1):
            try:
                await send()
                return
            except SlackApiError as error:
                if attempt == attempts or refused_content(error) or message_gone(error):
                    raise
                log.warning(
                    "slack refused %s (%s); attempt %d, retrying in %.1f s",
                    what,
                    error.response.get("error"),
                    attempt,
                    delay,
                )
                await asyncio.sleep(delay)
                delay *= 2

    return retry
