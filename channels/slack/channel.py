"""The Slack channel: bolt's AsyncApp on the server's aiohttp app (or on a Socket Mode connection).

Ingress does only what must happen before the acknowledgement: bolt verifies the signature (5-minute
window; 401 otherwise) and answers `url_verification`; the listeners drop what needs no answer (the bot's
own and other bots' posts, edits, deletions, threads the bot is not part of) and store the rest as a job
in Redis, then acknowledge (the app runs with `process_before_response`, so an acknowledged event is
already stored, and an event that could not be stored gets a 500 that Slack retries). The work runs in a
`JobWorker` (channels/slack/work.py): in this process on the embedded default, or in `switchboard worker`
processes when the web tier is split off (`serve --role web`), so acknowledgements never wait for the
model. Once the bot has answered in a thread, replies there need no mention unless they mention someone else.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.signature import SignatureVerifier

from channels.slack.agents import CLAIM, RESOLVE, AgentsChannel
from channels.slack.blocks import ACTION_PREFIX, FEEDBACK_PREFIX
from channels.slack.payloads import MENTION, Workspace
from channels.slack.work import SHARE, SlackOptions, SlackWork, ThreadRegistry
from engine.protocols import StoreUnavailable
from engine.replies import reply_text

log = logging.getLogger(__name__)

IGNORED_SUBTYPES = frozenset({"message_changed", "message_deleted", "bot_message", "channel_join", "channel_leave"})


class JobQueue(Protocol):
    async def enqueue(self, kind: str, payload: dict[str, Any]) -> str: ...


class Worker(Protocol):
    async def run(self) -> None: ...

    async def drain(self) -> None: ...


class SocketConnection(Protocol):
    """Socket Mode (bolt's AsyncSocketModeHandler): events over a WebSocket Slack opens for us."""

    async def connect_async(self) -> None: ...

    async def close_async(self) -> None: ...


class SlackChannel:
    def __init__(
        self,
        app: AsyncApp,
        jobs: JobQueue,
        threads: ThreadRegistry,
        work: SlackWork,
        worker: Worker | None = None,
        agents: AgentsChannel | None = None,
        options: SlackOptions | None = None,
        socket: SocketConnection | None = None,
        signing_secret: str = "",  # over HTTP: requests are checked before bolt parses them
    ) -> None:
        self.app = app
        self.verifier = SignatureVerifier(signing_secret) if signing_secret else None
        self.socket = socket
        self.jobs = jobs
        self.threads = threads
        self.work = work
        self.worker = worker  # None: jobs are left to `switchboard worker` processes
        self.agents = agents
        self.options = options or SlackOptions()
        self._background: list[asyncio.Task[None]] = []
        self._worker_task: asyncio.Task[None] | None = None
        self.connected = socket is None  # Socket Mode: whether the first connection succeeded
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.action(re.compile(f"^{re.escape(FEEDBACK_PREFIX)}"))(self._job_on_click("feedback"))
        app.action(re.compile(f"^{re.escape(ACTION_PREFIX)}"))(self._job_on_click("action"))
        app.action(SHARE)(self._job_on_click("share"))
        app.action(re.compile(f"^({re.escape(CLAIM)}|{re.escape(RESOLVE)})$"))(self._job_on_click("agent_click"))
        app.command("/escalate")(self._on_escalate_command)
        app.command("/support")(self._on_support_command)

    # --- transport -----------------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        """POST /slack/events; with OAuth also GET /slack/install and the redirect back from Slack."""
        if request.method == "POST":
            # checked on the raw bytes before anything parses them: bolt would decode and parse first, so a
            # malformed unsigned body (bad charset, not JSON, a timestamp that is not a number) was a 500
            if self.verifier is not None and not signed_by_slack(self.verifier, request.headers, await request.read()):
                return web.json_response({"error": "invalid_signature"}, status=401)
        try:
            bolt_request = await to_bolt_request(request)
        except (ValueError, LookupError):  # not UTF-8, an unknown charset, a payload that is not JSON
            return web.json_response({"error": "invalid_body"}, status=400)
        flow = self.app.oauth_flow
        if request.method == "GET":
            if flow is not None and request.path == flow.install_path:
                return await to_aiohttp_response(await flow.handle_installation(bolt_request))
            if flow is not None and request.path == flow.redirect_uri_path:
                return await to_aiohttp_response(await flow.handle_callback(bolt_request))
            raise web.HTTPNotFound()
        return await to_aiohttp_response(await self.app.async_dispatch(bolt_request))

    def start(self) -> None:
        """Run jobs and post hand-overs to the agents' channel here (when this process does the work)."""
        if self._worker_task is not None or self._background:
            return
        if self.worker is not None:
            self._worker_task = asyncio.create_task(self.worker.run(), name="slack-jobs")
            self._worker_task.add_done_callback(_report_end)
        if self.agents is not None:
            self._background.append(asyncio.create_task(self.agents.run(), name="slack-agents-channel"))
        if self.socket is not None:
            self._background.append(asyncio.create_task(self._connect(self.socket), name="slack-socket-mode"))
        for task in self._background:
            task.add_done_callback(_report_end)

    async def _connect(self, socket: SocketConnection, first_wait_s: float = 1.0) -> None:
        """Connect, retrying with backoff until it works (once connected, the client reconnects itself)."""
        wait = first_wait_s
        while True:
            try:
                await socket.connect_async()
                self.connected = True
                return
            except Exception as error:
                log.error("Socket Mode could not connect to Slack (%s); retrying in %.0f s", type(error).__name__, wait)
            await asyncio.sleep(wait)
            wait = min(wait * 2, 60.0)

    async def drain(self) -> None:
        """At shutdown: stop taking events and jobs, finish those in flight; the rest stay queued in Redis."""
        if self.socket is not None:
            await self.socket.close_async()
        for task in self._background:
            task.cancel()
        if self.worker is not None:
            await self.worker.drain()  # the job loop returns by itself: never cut off mid-read
        if self._worker_task is not None:
            await asyncio.gather(self._worker_task, return_exceptions=True)
        await asyncio.gather(*self._background, return_exceptions=True)

    def healthy(self) -> bool:
        """False when a background loop that should run forever has ended (its error is in the log)."""
        tasks = [*self._background, *([self._worker_task] if self._worker_task is not None else [])]
        return not any(t.done() and t.get_name() != "slack-socket-mode" for t in tasks)

    async def _enqueue(self, kind: str, context: Any, source: dict[str, Any], **payload: Any) -> None:
        # the legacy verification token rides in every payload: it is not kept with the job
        cleaned = {k: _without_token(v) if k == "body" else v for k, v in payload.items()}
        await self.jobs.enqueue(kind, {"workspace": Workspace.of(context, source).as_dict()} | cleaned)

    # --- messages ------------------------------------------------------------------------------------------

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        if not self._should_ignore(event):
            await self._enqueue("answer", context, body, event=event)

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        if self._should_ignore(event):
            return
        if event.get("channel_type") == "im":
            await self._enqueue("answer", context, body, event=event)
            return
        thread = event.get("thread_ts")
        if thread and event.get("channel") == self.options.agents_channel:
            # a hand-over's thread (agents talking to the customer) or the bot's own: the worker tells them apart
            await self._enqueue("agent_reply", context, body, event=event)
            return
        if not thread or MENTION.search(event.get("text", "")):  # the bot's mention arrives as app_mention
            return
        team = Workspace.of(context, body).team
        try:
            ours = await self.threads.is_marked(f"{team}:{event['channel']}:{thread}")
        except StoreUnavailable:  # cannot tell whether the bot is part of this thread: stay out of it
            log.warning("thread registry unavailable; a follow-up without a mention was not answered")
            return
        if ours:
            await self._enqueue("answer", context, body, event=event)

    def _should_ignore(self, event: dict[str, Any]) -> bool:
        if event.get("subtype") in IGNORED_SUBTYPES or not event.get("user"):
            return True
        return bool(self.options.ignore_bots and event.get("bot_id"))

    # --- clicks and commands -------------------------------------------------------------------------------

    def _job_on_click(self, kind: str) -> Any:
        async def on_click(ack: Any, body: dict[str, Any], action: dict[str, Any], context: Any) -> None:
            # stored first: a click that cannot be stored is not acknowledged, so Slack shows it failed
            await self._enqueue(kind, context, body, body=body, action=action)
            await ack()

        return on_click

    async def _on_escalate_command(self, ack: Any, command: dict[str, Any], context: Any) -> None:
        language = self.work.language(str(command.get("text", "")))  # "/escalate mi pedido no llegó"
        try:
            await self._enqueue("escalate_command", context, command, body=command)
        except StoreUnavailable:
            await ack(reply_text("queue_down", language))
            return
        await ack(reply_text("escalated", language))

    async def _on_support_command(self, ack: Any, command: dict[str, Any], context: Any) -> None:
        if not str(command.get("text", "")).strip():
            await ack("Ask your question after the command, e.g. `/support how do I return an item?`")
            return
        language = self.work.language(str(command.get("text", "")))
        try:
            await self._enqueue("support", context, command, body=command)
        except StoreUnavailable:
            await ack(reply_text("queue_down", language))
            return
        # only the asker sees it; the answer follows through response_url
        await ack(reply_text("searching", language) + "…")


def _without_token(body: Any) -> Any:
    return {k: v for k, v in body.items() if k != "token"} if isinstance(body, dict) else body


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("the Slack loop %s stopped: %r", task.get_name(), task.exception())


def signed_by_slack(verifier: SignatureVerifier, headers: Mapping[str, str], body: bytes) -> bool:
    """Slack's v0 signature over the raw body, with a numeric timestamp within five minutes (the verifier
    itself would raise on a timestamp that is not a number)."""
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12 or not signature.isascii():
        return False  # the verifier compares strings, which raises on non-ASCII
    try:
        text = body.decode("utf-8")  # Slack's bodies are UTF-8; the verifier would raise on anything else
    except UnicodeDecodeError:
        return False
    return verifier.is_valid(body=text, timestamp=timestamp, signature=signature)
