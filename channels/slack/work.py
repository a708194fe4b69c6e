"""The Slack work that runs after the acknowledgement: answering posts and clicks, recording feedback and
hand-overs, private answers through `response_url`. Each job names its workspace, so any worker process
can run it with that workspace's token; every handler is idempotent, so a job run twice has one effect.

- A user's post is answered once: the ingress ledger is claimed per `team:channel:ts` (a mention in a DM
  arrives both as `message` and `app_mention`, and Slack retries), released when the answer failed before
  any effect, and marked done after it. A duplicate that finds the original still being answered is
  deferred (asked again later) rather than dropped, so a worker that died mid-answer is replaced.
- Answers go in the thread of the message: a status line first, replaced as tokens arrive (at most one
  `chat.update` per `update_interval_s`), then by the final reply's blocks (the final reply is
  authoritative).
- A Slack conversation is `team:channel:thread`; history is kept per person within it (each person's
  messages stay theirs for export and erasure, and one person's earlier question never steers another's).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from channels.slack.agents import AgentsChannel, ReplySender
from channels.slack.blocks import FEEDBACK_PROMPT, VALUE_CHARS, escape, fallback_text, reply_blocks, to_mrkdwn
from channels.slack.clients import NotInstalled, WorkspaceClients
from channels.slack.payloads import CHANNEL, MENTION, Workspace, click_value, conversation_of, plain_text
from channels.slack.surfaces import StreamedMessage, Surface, UpdatedMessage, backoff, message_gone
from engine.delivery import Busy, Dispatcher
from engine.language import reply_language
from engine.protocols import EscalationRecorder, IngressLedger, Redactor, StoreUnavailable
from engine.replies import label_language, reply_text
from engine.text import clean_text
from engine.types import ESCALATE_ACTION, ConversationRef, EventKind, Message, Reply

log = logging.getLogger(__name__)

SHARE = "sb_share"
NOT_POSTABLE = frozenset({"not_in_channel", "channel_not_found", "is_archived", "restricted_action"})
PROCESSING = "processing"


class ThreadRegistry(Protocol):
    """Threads the bot has answered in, so follow-ups there need no mention; and threads it handed over to a
    person, where only a mention is answered (the agent and the customer talk there)."""

    async def mark(self, key: str) -> None: ...

    async def hand_over(self, key: str) -> None: ...

    async def is_marked(self, key: str) -> bool: ...


class FeedbackRecorder(Protocol):
    async def record(self, conversation: ConversationRef, message_id: str, vote: str) -> bool:
        """False when this user already voted on this reply (one vote each)."""
        ...


class DeliveryNotes(Protocol):
    """What a delivery already did for a user's post, for the next delivery of a failed job (memory/ledger.py)."""

    async def note(self, user_id: str, key: str, value: str) -> None: ...

    async def noted(self, user_id: str, key: str) -> str | None: ...

    async def drop(self, user_id: str, key: str) -> None: ...


@dataclass(slots=True)
class Noted:
    ts: str = ""  # the message the answer is in
    reply: dict[str, Any] | None = None  # the final reply as sent: answer, text, blocks, metadata


@dataclass(frozen=True, slots=True)
class SlackOptions:
    ignore_bots: bool = True
    update_interval_s: float = 1.0
    status_text: str = ""  # "": "Searching the help centre…" in the language of the message
    delivery_attempts: int = 5  # the final reply, when Slack keeps failing past the client's own retries
    delivery_backoff_s: float = 2.0  # doubled after each failed attempt
    streaming: bool = False  # Slack's chat.startStream / appendStream / stopStream instead of edits
    agents_channel: str = ""  # where hand-overs are posted: replies in their threads go to the customer


class SlackWork:
    def __init__(
        self,
        clients: WorkspaceClients,
        dispatcher: Callable[[], Dispatcher | None],
        ledger: IngressLedger,
        threads: ThreadRegistry,
        escalations: EscalationRecorder,
        feedback: FeedbackRecorder,
        options: SlackOptions = SlackOptions(),
        agents: AgentsChannel | None = None,
        redactor: Redactor | None = None,
        notes: DeliveryNotes | None = None,
        agent_replies: ReplySender | None = None,
    ) -> None:
        self.agent_replies = agent_replies  # an agent's reply in a hand-over's thread, to the customer
        self.redactor = redactor  # `/escalate reason` is stored without passing the engine
        self.notes = notes  # None: a failed delivery starts again from scratch
        self.clients = clients
        self.dispatcher = dispatcher
        self.ledger = ledger
        self.threads = threads
        self.escalations = escalations
        self.feedback = feedback
        self.options = options
        self.agents = agents

    async def run(self, kind: str, payload: dict[str, Any]) -> bool:
        """One job (see SlackIngress for the kinds); False asks for it to be handed out again later."""
        workspace = Workspace.from_dict(payload.get("workspace") or {})
        try:
            client = await self.clients.client_for(workspace)
        except NotInstalled as error:
            log.warning("a %s job was dropped: %s", kind, error)
            return True
        body: dict[str, Any] = payload.get("body") or {}
        action: dict[str, Any] = payload.get("action") or {}
        if kind == "answer":
            return await self._answer(payload.get("event") or {}, workspace, client)
        if kind == "feedback":
            await self._record_feedback(body, action, client)
        elif kind == "action":
            return await self._on_action(body, action, client)
        elif kind == "agent_click":
            if self.agents is not None:
                await self.agents.on_click(body, action)
        elif kind == "agent_reply":
            return await self._in_agents_thread(payload.get("event") or {}, workspace, client)
        elif kind == "escalate_command":
            await self._escalate_from_command(body)
        elif kind == "support":
            await self._answer_privately(body)
        elif kind == "share":
            await self._share(body, action, client)
        else:
            log.error("unknown slack job %r dropped", kind)
        return True

    # --- posts ---------------------------------------------------------------------------------------------

    async def _in_agents_thread(self, event: dict[str, Any], workspace: Workspace, client: AsyncWebClient) -> bool:
        """A hand-over's thread: agents talking to the customer. Otherwise a thread of the agents' channel the
        bot answered in, followed up as anywhere else (without a mention, when the bot's)."""
        if self.agents is not None and self.agent_replies is not None:
            if await self.agents.on_reply(event, self.agent_replies, workspace.bot_user_id):
                return True
        if MENTION.search(str(event.get("text", ""))):
            return True  # the bot's mention is answered as app_mention; someone else's is not for the bot
        try:
            ours = await self.threads.is_marked(f"{workspace.team}:{event.get('channel')}:{event.get('thread_ts')}")
        except StoreUnavailable:
            return True
        return await self._answer(event, workspace, client) if ours else True

    async def _claim(self, key: str) -> bool | None:
        """True: ours to answer. False: answered already, drop it. None: being answered elsewhere, defer."""
        try:
            if await self.ledger.claim(key):
                return True
            return None if await self.ledger.state(key) == PROCESSING else False
        except StoreUnavailable:
            log.warning("ledger unavailable; answering %s without de-duplication", key)
            return True

    async def _answer(self, event: dict[str, Any], workspace: Workspace, client: AsyncWebClient) -> bool:
        team, channel, ts = workspace.team, event["channel"], event["ts"]
        thread = event.get("thread_ts") or ts
        key = f"{team}:{channel}:{ts}"
        claimed = await self._claim(key)
        if not claimed:
            return claimed is not None  # a retry, or the same post as `message` and `app_mention`
        text = plain_text(event.get("text", ""), workspace.bot_user_id or None)
        conversation = ConversationRef(CHANNEL, f"{team}:{channel}:{thread}", event["user"])
        message = Message(conversation, text or "hello", message_id=uuid.uuid4().hex, sent_at=_seconds(ts))
        noted = await self._deliver_once(key, client, channel, thread, message, team)
        if noted is None:
            return False  # handed out again later (Slack has its 200 and will not retry)
        await self._follow_thread(f"{team}:{channel}:{thread}", noted)
        return True

    async def _follow_thread(self, thread_key: str, noted: Noted, answered_marks: bool = True) -> None:
        """After an answer, follow-ups in the thread need no mention (`answered_marks`: a click's answer leaves
        the thread as it was); after a hand-over they are left to people (the agent who replies there is not
        asking the bot)."""
        with contextlib.suppress(StoreUnavailable):
            if noted.reply is not None and noted.reply.get("escalated"):
                await self.threads.hand_over(thread_key)
            elif answered_marks:
                await self.threads.mark(thread_key)

    async def _deliver_once(
        self, key: str, client: AsyncWebClient, channel: str, thread: str, message: Message, team: str
    ) -> Noted | None:
        """Answer the post; a delivery that fails is handed out again and resumes from what the last one
        noted: the message it posted is edited (not a second one posted), and a reply it had already
        written is sent again without asking the engine twice."""
        noted = await self._noted(message.user_id, key)
        try:
            try:
                await self._resume(self._surface(client, channel, thread, message, team), key, message, noted)
            except SlackApiError as error:
                if not noted.ts or not message_gone(error):
                    raise
                log.warning("slack: the answer's message is gone (%s); answering in a new one", error.response["error"])
                noted.ts = ""
                await self._resume(self._surface(client, channel, thread, message, team), key, message, noted)
        except Exception:
            log.exception("could not answer slack message %s (%s)", message.message_id, key)
            with contextlib.suppress(StoreUnavailable):
                await self.ledger.release(key)
            return None
        with contextlib.suppress(StoreUnavailable):
            await self.ledger.done(key)
            if self.notes is not None:
                await self.notes.drop(message.user_id, key)
        return noted

    async def _resume(self, surface: Surface, key: str, message: Message, noted: Noted) -> None:
        async def started(ts: str) -> None:
            noted.ts = ts
            await self._note(message.user_id, key, noted)

        surface.started = started
        if noted.ts:
            surface.adopt(noted.ts)
        if noted.reply is not None:
            reply = noted.reply
            await surface.finish(reply["answer"], reply["text"], reply["blocks"], reply["metadata"])
        else:
            await self._deliver(surface, key, message, noted)

    async def _noted(self, user_id: str, key: str) -> Noted:
        if self.notes is None:
            return Noted()
        try:
            raw = await self.notes.noted(user_id, key)
            value = json.loads(raw) if raw else {}
        except (StoreUnavailable, ValueError):
            return Noted()
        if not isinstance(value, dict):
            return Noted()
        reply = value.get("reply")
        return Noted(str(value.get("ts") or ""), reply if isinstance(reply, dict) else None)

    async def _note(self, user_id: str, key: str, noted: Noted) -> None:
        if self.notes is None:
            return
        with contextlib.suppress(StoreUnavailable):  # without it a retry does the work again: rare, not lost
            await self.notes.note(user_id, key, json.dumps({"ts": noted.ts, "reply": noted.reply}, ensure_ascii=True))

    def _surface(self, client: AsyncWebClient, channel: str, thread: str, message: Message, team: str) -> Surface:
        options = self.options
        retry = backoff(options.delivery_attempts, options.delivery_backoff_s, f"the reply to {message.message_id}")
        status = options.status_text or reply_text("searching", self.language(message.text)) + "…"
        if options.streaming:
            recipient = (team, message.user_id)
            return StreamedMessage(client, channel, thread, recipient, status, options.update_interval_s, retry)
        return UpdatedMessage(client, channel, thread, status, options.update_interval_s, retry)

    async def _deliver(self, surface: Surface, key: str, message: Message, noted: Noted) -> None:
        dispatcher = self.dispatcher()
        if dispatcher is None:
            raise RuntimeError("the engine is not ready")
        if not surface.ts:
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
                    text = fallback_text(reply)
                    noted.reply = {
                        "answer": reply.text,
                        "text": text,
                        "blocks": blocks,
                        "metadata": metadata,
                        "escalated": reply.escalated,
                    }
                    await self._note(message.user_id, key, noted)  # before sending: a retry resends it
                    await surface.finish(reply.text, text, blocks, metadata)
                    return
        except Busy as busy:
            await surface.say(busy.text)

    # --- clicks --------------------------------------------------------------------------------------------

    async def _record_feedback(self, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> None:
        value = click_value(action)
        vote = value.get("a", "")
        if vote not in ("up", "down"):
            return
        conversation = conversation_of(body)
        first = await self.feedback.record(conversation, value.get("m", ""), vote)  # Redis down: job retried
        if first:
            await _replace_block(
                client, body, "sb_feedback", "Thanks for your feedback " + ("👍" if vote == "up" else "👎")
            )

    async def _on_action(self, body: dict[str, Any], action: dict[str, Any], client: AsyncWebClient) -> bool:
        value = click_value(action)
        if value.get("a") == ESCALATE_ACTION.action:
            await self._escalate_from_button(body, value, str((action.get("text") or {}).get("text") or ""), client)
        elif value.get("a"):
            return await self._answer_click(body, action, value, client)
        return True

    async def _answer_click(
        self, body: dict[str, Any], action: dict[str, Any], value: dict[str, str], client: AsyncWebClient
    ) -> bool:
        """A clicked answer button goes to the engine as an action event, answered in the same thread."""
        conversation = conversation_of(body)
        team, channel, thread = conversation.conversation_id.split(":", 2)
        private = bool((body.get("container") or {}).get("is_ephemeral"))
        if private:  # a button on a /support answer: that private conversation, answered privately again
            conversation = ConversationRef(CHANNEL, f"{team}:{channel}:support", conversation.user_id)
        key = f"click:{team}:{channel}:{action.get('action_ts') or body.get('trigger_id', '')}:{conversation.user_id}"
        claimed = await self._claim(key)
        if not claimed:
            return claimed is not None
        label = str((action.get("text") or {}).get("text") or value["a"])
        message = Message(
            conversation, label, message_id=uuid.uuid4().hex, action=value["a"], action_value=value.get("v", "")
        )
        if private:
            await self._reply_privately(message, str(body.get("response_url", "")), shareable=False)
            with contextlib.suppress(StoreUnavailable):
                await self.ledger.done(key)
            return True
        noted = await self._deliver_once(key, client, channel, thread, message, team)
        if noted is None:
            return False
        await self._follow_thread(f"{team}:{channel}:{thread}", noted, answered_marks=False)
        return True

    async def _escalate_from_button(
        self, body: dict[str, Any], value: dict[str, str], label: str, client: AsyncWebClient
    ) -> None:
        conversation = conversation_of(body)
        # the button was labelled in the customer's language: the record and the confirmation speak it too
        language = label_language(label) or self.language(label)
        message_id = value.get("m", "")
        await self.escalations.open(conversation, message_id, "talk_to_human_button", "", "", language=language)
        with contextlib.suppress(StoreUnavailable):  # the thread is the person's now: the bot answers mentions only
            await self.threads.hand_over(conversation.conversation_id)
        await _replace_block(client, body, "sb_actions", reply_text("escalated", language))

    def language(self, text: str) -> str:
        """The language our replies to a Slack message of this text are written in."""
        dispatcher = self.dispatcher()
        return dispatcher.engine.language_of(text) if dispatcher is not None else reply_language(text)

    # --- slash commands ------------------------------------------------------------------------------------

    async def _answer_privately(self, command: dict[str, Any]) -> None:
        question = str(command.get("text", "")).strip()
        team, channel, user = command.get("team_id", ""), command.get("channel_id", ""), command.get("user_id", "")
        conversation = ConversationRef(CHANNEL, f"{team}:{channel}:support", user)
        message = Message(conversation, question, message_id=uuid.uuid4().hex)
        await self._reply_privately(message, command.get("response_url", ""), shareable=True)

    async def _reply_privately(self, message: Message, response_url: str, shareable: bool) -> None:
        """The answer only its asker sees (a /support question, or a click on such an answer)."""
        question = message.text
        responder = AsyncWebhookClient(response_url)
        dispatcher = self.dispatcher()
        reply: Reply | None = None
        try:
            if dispatcher is not None:
                async for event in dispatcher.ask(message):
                    if event.kind is EventKind.FINAL:
                        reply = event.reply
        except Busy as busy:
            await responder.send(text=busy.text, response_type="ephemeral", replace_original=True)
            return
        if reply is None:
            text = reply_text("escalated", self.language(question))
            await responder.send(text=text, response_type="ephemeral", replace_original=True)
            return
        blocks = reply_blocks(reply, message.message_id, feedback=False)
        shared = json.dumps({"m": message.message_id, "q": question, "t": reply.text})
        if shareable and len(shared) <= VALUE_CHARS and not reply.escalated:
            button = {"type": "button", "text": {"type": "plain_text", "text": "Share in channel"}}
            share = button | {"action_id": SHARE, "value": shared}
            blocks.append({"type": "actions", "block_id": "sb_share", "elements": [share]})
        await responder.send(text=fallback_text(reply), blocks=blocks, response_type="ephemeral", replace_original=True)

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
        reason = clean_text(str(command.get("text", ""))).strip()[:2000]
        if self.redactor is not None and reason:
            reason, _ = await asyncio.to_thread(self.redactor.redact, reason)
        # Redis down: the error hands the job out again (it is in Redis too, so it waits for it anyway)
        await self.escalations.open(conversation, command.get("trigger_id", ""), "slash_command", reason, "")


def _seconds(ts: str) -> float:
    """A Slack message ts ("1700000000.000100") is when it was posted; relative dates resolve against it."""
    try:
        return float(ts)
    except ValueError:
        return 0.0


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
