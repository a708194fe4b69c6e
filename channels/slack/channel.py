"""The Slack channel: bolt's AsyncApp on the server's aiohttp app, events in, Block Kit replies out.

- `POST /slack/events` takes events, interactivity payloads and slash commands; bolt verifies the signature
  (5-minute window; 401 otherwise) and answers `url_verification`.
- Every request is acknowledged before any work: listeners only start a tracked task and return.
- A user's post is answered once: the ingress ledger is claimed per `team:channel:ts` (a mention in a DM
  arrives both as `message` and `app_mention`, and Slack retries), released when the answer failed before
  any effect, and marked done after it.
- Answers go in the thread of the message: a status line first, replaced as tokens arrive (at most one
  `chat.update` per `update_interval_s`), then by the final reply's blocks (the final reply is
  authoritative). Once the bot has answered in a thread, replies there need no mention unless they
  mention someone else.
- A Slack conversation is `team:channel:thread`; history is kept per person within it (each person's
  messages stay theirs for export and erasure, and one person's earlier question never steers another's).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from channels.slack.agents import CLAIM, RESOLVE, AgentsChannel
from channels.slack.blocks import (
    ACTION_PREFIX,
    FEEDBACK_PREFIX,
    FEEDBACK_PROMPT,
    VALUE_CHARS,
    escape,
    fallback_text,
    reply_blocks,
    to_mrkdwn,
)
from channels.slack.surfaces import StreamedMessage, Surface, UpdatedMessage, backoff
from engine.delivery import BUSY_TEXT, Busy, Dispatcher
from engine.protocols import EscalationRecorder, IngressLedger, StoreUnavailable
from engine.types import ESCALATE_ACTION, ConversationRef, EventKind, Message, Reply

log = logging.getLogger(__name__)

CHANNEL = "slack"
_MENTION = re.compile(r"<@([A-Z0-9]+)(?:\|[^>]*)?>")
IGNORED_SUBTYPES = frozenset({"message_changed", "message_deleted", "bot_message", "channel_join", "channel_leave"})
SHARE = "sb_share"
NOT_POSTABLE = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})
ESCALATED_TEXT = "I've asked a member of our support team to take over; they will reply in this conversation."


class ThreadRegistry(Protocol):
    """Threads the bot has answered in, so follow-ups there need no mention."""

    async def mark(self, key: str) -> None: ...

    async def is_marked(self, key: str) -> bool: ...


class FeedbackRecorder(Protocol):
    async def record(self, conversation: ConversationRef, message_id: str, vote: str) -> bool:
        """False when this user already voted on this reply (one vote each)."""
        ...


@dataclass(frozen=True, slots=True)
class SlackOptions:
    ignore_bots: bool = True
    update_interval_s: float = 1.0
    status_text: str = "Searching the help centre…"
    delivery_attempts: int = 5  # the final reply, when Slack keeps failing past the client's own retries
    delivery_backoff_s: float = 2.0  # doubled after each failed attempt
    streaming: bool = False  # Slack's chat.startStream / appendStream / stopStream instead of edits


class SlackChannel:
    def __init__(
        self,
        app: AsyncApp,
        dispatcher: Callable[[], Dispatcher | None],
        ledger: IngressLedger,
        threads: ThreadRegistry,
        escalations: EscalationRecorder,
        feedback: FeedbackRecorder,
        options: SlackOptions = SlackOptions(),
        agents: AgentsChannel | None = None,
    ) -> None:
        self.app = app
        self.dispatcher = dispatcher
        self.ledger = ledger
        self.threads = threads
        self.escalations = escalations
        self.feedback = feedback
        self.options = options
        self.agents = agents
        self._tasks: set[asyncio.Task[None]] = set()
        self._agents_task: asyncio.Task[None] | None = None
        app.event("app_mention")(self._on_mention)
        app.event("message")(self._on_message)
        app.action(re.compile(f"^{re.escape(FEEDBACK_PREFIX)}"))(self._on_feedback)
        app.action(re.compile(f"^{re.escape(ACTION_PREFIX)}"))(self._on_action)
        app.command("/escalate")(self._on_escalate_command)
        app.command("/support")(self._on_support_command)
        app.action(SHARE)(self._on_share)
        app.action(re.compile(f"^({re.escape(CLAIM)}|{re.escape(RESOLVE)})$"))(self._on_agent_click)

    # --- HTTP --------------------------------------------------------------------------------------------

    async def handle(self, request: web.Request) -> web.Response:
        return await to_aiohttp_response(await self.app.async_dispatch(await to_bolt_request(request)))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """Work after the ack; referenced here so it is neither collected nor lost at shutdown."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start(self) -> None:
        """Post hand-overs to the agents' channel as they are recorded (when one is configured)."""
        if self.agents is not None and self._agents_task is None:
            self._agents_task = asyncio.create_task(self.agents.run(), name="slack-agents-channel")

    async def drain(self) -> None:
        """At shutdown: stop following hand-overs, finish the answers already acknowledged."""
        if self._agents_task is not None:
            self._agents_task.cancel()
            await asyncio.gather(self._agents_task, return_exceptions=True)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # --- messages ----------------------------------------------------------------------------------------

    async def _on_mention(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        if self._should_ignore(event):
            return
        self._spawn(self._answer(event, body.get("team_id") or event.get("team", ""), context.client, context))

    async def _on_message(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        if self._should_ignore(event):
            return
        team = body.get("team_id") or event.get("team", "")
        mentioned = set(_MENTION.findall(event.get("text", "")))
        if event.get("channel_type") == "im":
            self._spawn(self._answer(event, team, context.client, context))
            return
        thread = event.get("thread_ts")
        if not thread or mentioned:  # a mention of the bot arrives as app_mention; of others, not for us
            return
        try:
            ours = await self.threads.is_marked(f"{team}:{event['channel']}:{thread}")
        except StoreUnavailable:  # cannot tell whether the bot is part of this thread: stay out of it
            log.warning("thread registry unavailable; a follow-up without a mention was not answered")
            return
        if ours:
            self._spawn(self._answer(event, team, context.client, context))

    def _should_ignore(self, event: dict[str, Any]) -> bool:
        if event.get("subtype") in IGNORED_SUBTYPES or not event.get("user"):
            return True
        return bool(self.options.ignore_bots and event.get("bot_id"))

    async def _answer(self, event: dict[str, Any], team: str, client: AsyncWebClient, context: Any) -> None:
        channel, ts = event["channel"], event["ts"]
        thread = event.get("thread_ts") or ts
        key = f"{team}:{channel}:{ts}"
        try:
            if not await self.ledger.claim(key):
                return  # a retry, or the same post as `message` and `app_mention`
        except StoreUnavailable:
            log.warning("ledger unavailable; answering slack event %s without de-duplication", key)
        text = plain_text(event.get("text", ""), getattr(context, "bot_user_id", None))
        conversation = ConversationRef(CHANNEL, f"{team}:{channel}:{thread}", event["user"])
        message = Message(conversation, text or "hello", message_id=uuid.uuid4().hex)
        try:
            await self._deliver(client, channel, thread, message, team)
        except Exception:
            log.exception("could not answer slack message %s (%s)", message.message_id, key)
            with contextlib.suppress(StoreUnavailable):
                await self.ledger.release(key)
            return
        with contextlib.suppress(StoreUnavailable):
            await self.ledger.done(key)
        with contextlib.suppress(StoreUnavailable):
            await self.threads.mark(f"{team}:{channel}:{thread}")

    def _surface(self, client: AsyncWebClient, channel: str, thread: str, message: Message, team: str) -> Surface:
        options = self.options
        retry = backoff(options.delivery_attempts, options.delivery_backoff_s, f"the reply to {message.message_id}")
        if options.streaming:
            recipient = (team, message.user_id)
            return StreamedMessage(
                client, channel, thread, recipient, options.status_text, options.update_interval_s, retry
            )
        return UpdatedMessage(client, channel, thread, options.status_text, options.update_interval_s, retry)

    async def _deliver(
        self, client: AsyncWebClient, channel: str, thread: str, message: Message, team: str = ""
    ) -> None:
        dispatcher = self.dispatcher()
        if dispatcher is None:
            raise RuntimeError("the engine is not ready")
        surface = self._surface(client, channel, thread, message, team)
        await surface.begin()
        streamed = ""
        try:
            async for event in dispatcher.ask(message):
                if event.kind is EventKind.TOKEN:
                    streamed += event.text
                    await surface.progress(streamed)
                elif event.kind is EventKind.FINAL and event.reply is not None:
                    reply = event.reply
                    metadata = {"event_type": "switchboard_reply", "event_payload": {"message_id": message.message_id}}
                    blocks = reply_blocks(reply, message.message_id)
                    await surface.finish(reply.text, fallback_text(reply), blocks, metadata)
                    return
        except Busy:
            await surface.say(BUSY_TEXT)

    # --- clicks ------------------------------------------------------------------------------------------

    async def _on_feedback(self, ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        await ack()
        self._spawn(self._record_feedback(body, action, client))

    async def _record_feedback(self, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        value = _click_value(action)
        vote = value.get("a", "")
        if vote not in ("up", "down"):
            return
        conversation = _conversation_of(body)
        try:
            first = await self.feedback.record(conversation, value.get("m", ""), vote)
        except StoreUnavailable:
            log.warning("feedback not recorded: Redis unavailable")
            return
        if first:
            await _replace_block(
                client, body, "sb_feedback", "Thanks for your feedback " + ("👍" if vote == "up" else "👎")
            )

    async def _on_action(self, ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        await ack()
        value = _click_value(action)
        if value.get("a") == ESCALATE_ACTION.action:
            self._spawn(self._escalate_from_button(body, value, client))
        elif value.get("a"):
            self._spawn(self._answer_click(body, action, value, client))

    async def _answer_click(
        self, body: dict[str, Any], action: dict[str, Any], value: dict[str, str], client: AsyncWebClient
    ) -> None:
        """A clicked answer button goes to the engine as an action event, answered in the same thread."""
        conversation = _conversation_of(body)
        team, channel, thread = conversation.conversation_id.split(":", 2)
        key = f"click:{team}:{channel}:{action.get('action_ts') or body.get('trigger_id', '')}:{conversation.user_id}"
        try:
            if not await self.ledger.claim(key):
                return
        except StoreUnavailable:
            log.warning("ledger unavailable; answering a click without de-duplication")
        label = str((action.get("text") or {}).get("text") or value["a"])
        message = Message(conversation, label, message_id=uuid.uuid4().hex, action=value["a"])
        try:
            await self._deliver(client, channel, thread, message, team)
        except Exception:
            log.exception("could not answer the click %s (%s)", value["a"], message.message_id)
            with contextlib.suppress(StoreUnavailable):
                await self.ledger.release(key)
            return
        with contextlib.suppress(StoreUnavailable):
            await self.ledger.done(key)

    async def _escalate_from_button(self, body: dict[str, Any], value: dict[str, str], client: AsyncWebClient) -> None:
        conversation = _conversation_of(body)
        try:
            await self.escalations.open(conversation, value.get("m", ""), "talk_to_human_button", "", "")
        except StoreUnavailable:
            log.error("escalation from a button not recorded: Redis unavailable")
            return
        await _replace_block(client, body, "sb_actions", ESCALATED_TEXT)

    async def _on_agent_click(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        if self.agents is not None:
            self._spawn(self.agents.on_click(body, action))

    # --- slash commands ----------------------------------------------------------------------------------

    async def _on_escalate_command(self, ack: Any, command: dict[str, Any]) -> None:
        await ack(ESCALATED_TEXT)  # within 3 s; the record is written after
        self._spawn(self._escalate_from_command(command))

    async def _on_support_command(self, ack: Any, command: dict[str, Any]) -> None:
        question = command.get("text", "").strip()
        if not question:
            await ack("Ask your question after the command, e.g. `/support how do I return an item?`")
            return
        await ack("Looking that up…")  # only the asker sees it; the answer follows through response_url
        self._spawn(self._answer_privately(command, question))

    async def _answer_privately(self, command: dict[str, Any], question: str) -> None:
        team, channel, user = command.get("team_id", ""), command.get("channel_id", ""), command.get("user_id", "")
        conversation = ConversationRef(CHANNEL, f"{team}:{channel}:support", user)
        message = Message(conversation, question, message_id=uuid.uuid4().hex)
        responder = AsyncWebhookClient(command.get("response_url", ""))
        dispatcher = self.dispatcher()
        reply: Reply | None = None
        try:
            if dispatcher is not None:
                async for event in dispatcher.ask(message):
                    if event.kind is EventKind.FINAL:
                        reply = event.reply
        except Busy:
            await responder.send(text=BUSY_TEXT, response_type="ephemeral", replace_original=True)
            return
        if reply is None:
            await responder.send(text=ESCALATED_TEXT, response_type="ephemeral", replace_original=True)
            return
        blocks = reply_blocks(reply, message.message_id, feedback=False)
        shared = json.dumps({"m": message.message_id, "q": question, "t": reply.text})
        if len(shared) <= VALUE_CHARS and not reply.escalated:
            button = {"type": "button", "text": {"type": "plain_text", "text": "Share in channel"}}
            blocks.append(
                {
                    "type": "actions",
                    "block_id": "sb_share",
                    "elements": [button | {"action_id": SHARE, "value": shared}],
                }
            )
        await responder.send(text=fallback_text(reply), blocks=blocks, response_type="ephemeral", replace_original=True)

    async def _on_share(self, ack: Any, body: dict[str, Any], action: dict[str, Any], client: Any) -> None:
        await ack()
        self._spawn(self._share(body, action, client))

    async def _share(self, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        try:
            value = json.loads(action.get("value") or "{}")
        except ValueError:
            return
        user = (body.get("user") or {}).get("id", "")
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id", "")
        responder = AsyncWebhookClient(body.get("response_url", "")) if body.get("response_url") else None
        text = f"<@{user}> asked: {escape(str(value.get('q', '')))}\n\n{to_mrkdwn(str(value.get('t', '')))}"
        try:
            await client.chat_postMessage(channel=channel, text=text)
        except SlackApiError as error:
            if responder is not None:
                reason = error.response.get("error")
                hint = "invite me to this channel (`/invite @Switchboard`)" if reason in NOT_POSTABLE else "try again"
                await responder.send(text=f"I can't post here ({reason}); {hint}.", response_type="ephemeral")
            return
        if responder is not None:
            await responder.send(text="Shared in the channel.", response_type="ephemeral", replace_original=True)

    async def _escalate_from_command(self, command: dict[str, Any]) -> None:
        team, channel, user = command.get("team_id", ""), command.get("channel_id", ""), command.get("user_id", "")
        conversation = ConversationRef(CHANNEL, f"{team}:{channel}:{channel}", user)
        reason = command.get("text", "").strip()
        try:
            await self.escalations.open(conversation, command.get("trigger_id", ""), "slash_command", reason, "")
        except StoreUnavailable:
            log.error("escalation from /escalate not recorded: Redis unavailable")
            if command.get("response_url"):  # the ack promised a person: correct it
                await AsyncWebhookClient(command["response_url"]).send(
                    text="Sorry, I couldn't reach our support queue just now. Please try /escalate again in a minute.",
                    response_type="ephemeral",
                    replace_original=True,
                )


_LINK = re.compile(r"<(?:(?P<kind>[#@!])(?P<id>[^|>]*)|(?P<url>[a-z]+:[^|>]*))(?:\|(?P<label>[^>]*))?>")


def plain_text(text: str, bot_user_id: str | None) -> str:
    """Slack's message markup as the words a person typed: the bot's own mention dropped, links and
    channel names shown by their label, other people as @mentions, entities unescaped."""

    def word(match: re.Match[str]) -> str:
        kind, target, label = match.group("kind"), match.group("id"), match.group("label")
        if kind == "@":
            return "" if target == bot_user_id else "@" + (label or target)
        if kind == "#":
            return "#" + (label or target)
        if kind == "!":
            return "@" + (label or target.split("^")[0])
        return label or match.group("url")

    unlinked = _LINK.sub(word, text)
    return " ".join(unlinked.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&").split())


def _click_value(action: dict[str, Any]) -> dict[str, str]:
    try:
        value = json.loads(action.get("value") or "{}")
    except ValueError:
        return {}
    return {k: str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _conversation_of(body: dict[str, Any]) -> ConversationRef:
    container = body.get("container") or {}
    message = body.get("message") or {}
    team = (body.get("team") or {}).get("id", "")
    channel = container.get("channel_id") or (body.get("channel") or {}).get("id", "")
    thread = message.get("thread_ts") or container.get("thread_ts") or message.get("ts", "")
    return ConversationRef(CHANNEL, f"{team}:{channel}:{thread}", (body.get("user") or {}).get("id", ""))


async def _replace_block(client: AsyncWebClient, body: dict[str, Any], block_id: str, text: str) -> None:
    """Show what the user chose in place of the buttons they clicked (a second click then has nothing)."""
    message = body.get("message") or {}
    blocks = [
        {"type": "context", "elements": [{"type": "mrkdwn", "text": escape(text)}]}
        if b.get("block_id") == block_id
        else b
        for b in message.get("blocks", [])
        if not (block_id == "sb_feedback" and b.get("type") == "context" and _is_feedback_prompt(b))
    ]
    channel = (body.get("container") or {}).get("channel_id", "")
    try:
        await client.chat_update(channel=channel, ts=message.get("ts", ""), text=message.get("text", ""), blocks=blocks)
    except SlackApiError as error:
        log.warning("could not update the clicked message: %s", error.response.get("error"))


def _is_feedback_prompt(block: dict[str, Any]) -> bool:
    elements = block.get("elements") or [{}]
    return bool(elements) and elements[0].get("text") == FEEDBACK_PROMPT
