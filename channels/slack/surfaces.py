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
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack.blocks import escape, to_mrkdwn

log = logging.getLogger(__name__)


class Surface(Protocol):
    async def begin(self) -> None: ...

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
        self._progress_client = without_rate_limit_waits(client)
        self._shown = ""
        self._last = 0.0

    async def begin(self) -> None:
        posted = await self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread, text=self.status)
        self.ts, self._last = str(posted["ts"]), time.monotonic()

    async def progress(self, streamed: str) -> None:
        if time.monotonic() - self._last < self.interval_s or streamed == self._shown:
            return
        self._shown, self._last = streamed, time.monotonic()
        try:  # progress only: a refused or rate-limited edit is skipped (never waited for); the final reply comes
            await self._progress_client.chat_update(channel=self.channel, ts=self.ts, text=to_mrkdwn(streamed) + " …")
        except SlackApiError as error:
            log.warning("slack refused a streamed update: %s", error.response.get("error"))

    async def finish(self, answer: str, text: str, blocks: list[dict[str, Any]], metadata: dict[str, Any]) -> None:
        async def update() -> None:
            await self.client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks, metadata=metadata)

        await self.retry(update)

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
        self._progress_client = without_rate_limit_waits(client)
        self._sent = ""
        self._latest = ""
        self._last = 0.0

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
        async def stop() -> None:
            if not self.ts:
                await self._start()
            # the streamed text is the answer; the blocks below it add sources, buttons and feedback
            extras = [b for b in blocks if b.get("type") != "section"]
            await self.client.chat_stopStream(channel=self.channel, ts=self.ts, blocks=extras, metadata=metadata)

        if self._latest != self._sent:
            await self.progress(self._latest, force=True)  # what the pacing held back, before the stream ends
        await self.retry(stop)
        if self._sent.strip() and self._sent.strip() != answer.strip():  # the final reply is authoritative

            async def replace() -> None:
                await self.client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks)

            await self.retry(replace)

    async def say(self, text: str) -> None:
        await self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread, text=text)


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
                if attempt == attempts:
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
