"""The agents' channel: every hand-over, from any channel, posted once with Claim and Resolve buttons.

Escalation records are followed through their Redis feed as one consumer group, so with several server
processes each hand-over is posted by one of them; the ingress ledger (keyed by escalation id) makes the
post happen once even when a consumer died after posting but before acknowledging.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
from collections.abc import Sequence
from typing import Any, Protocol

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from channels.slack.blocks import VALUE_CHARS, clip, escape, safe_url
from channels.slack.clients import NotInstalled, WorkspaceClients
from channels.slack.payloads import MENTION, Workspace, agent_text
from engine.protocols import StoreUnavailable

log = logging.getLogger(__name__)

GROUP = "slack-agents"
INTERNAL = re.compile(r"^(note\s*:|//)", re.IGNORECASE)  # a message in a hand-over's thread kept among agents
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}\Z")  # a Slack user id (a claim made in Slack)
CLAIM = "sb_agent:claim"
RESOLVE = "sb_agent:resolve"
# Slack's errors that pass: a post update that met one is tried again later; any other error is for good
SLACK_PASSING = frozenset(
    {"ratelimited", "fatal_error", "internal_error", "service_unavailable", "request_timeout", "invalid_auth",
     "token_revoked", "account_inactive"}
)  # fmt: skip
EARLIER_SHOWN = 6  # entries of the conversation before the hand-over shown in its post
EARLIER_CHARS = 400  # of each


class EscalationView(Protocol):
    """What the agents' channel reads of an escalation record (memory.escalations.Escalation)."""

    @property
    def id(self) -> str: ...

    @property
    def channel(self) -> str: ...

    @property
    def conversation_id(self) -> str: ...

    @property
    def user_id(self) -> str: ...

    @property
    def reason(self) -> str: ...

    @property
    def language(self) -> str: ...

    @property
    def question(self) -> str: ...

    @property
    def reply(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def claimed_by(self) -> str: ...

    @property
    def sources(self) -> tuple[str, ...]: ...

    @property
    def confidence(self) -> float: ...

    @property
    def agents_post(self) -> str: ...

    @property
    def earlier(self) -> Sequence[Any]: ...  # memory.escalations.Earlier: .role, .text


class PostLedger(Protocol):
    async def claim(self, key: str) -> bool: ...

    async def done(self, key: str) -> None: ...

    async def release(self, key: str) -> None: ...

    async def state(self, key: str) -> str | None: ...


class EscalationDesk(Protocol):
    async def follow(
        self, group: str, consumer: str, block_ms: int = ..., count: int = ...
    ) -> list[tuple[str, Any, str]]: ...

    async def acknowledge(self, group: str, entry_id: str) -> None: ...

    async def claim(self, user_id: str, escalation_id: str, agent: str) -> Any: ...

    async def resolve(self, user_id: str, escalation_id: str, agent: str) -> Any: ...

    async def note_post(self, user_id: str, escalation_id: str, channel: str, ts: str) -> None: ...

    async def posted(self, channel: str, ts: str) -> Any: ...

    async def get(self, user_id: str, escalation_id: str) -> Any: ...


class ReplySender(Protocol):
    """engine.agent_replies.AgentReplies: sends an agent's reply to the customer, or raises AgentReplyError."""

    async def send(
        self, user_id: str, escalation_id: str, agent: str, text: str, reply_id: str, agent_name: str = ""
    ) -> Any: ...


def slack_place(record: EscalationView) -> tuple[str, str]:
    """(channel, thread) of a Slack conversation id `team:channel:thread`."""
    parts = record.conversation_id.split(":")
    return (parts[1] if len(parts) > 1 else ""), (parts[2] if len(parts) > 2 else "")


def _note(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _button(label: str, action_id: str, value: str) -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id, "value": value}


def where(record: EscalationView) -> str:
    if record.channel != "slack":
        return f"{record.channel} conversation `{escape(record.conversation_id)}`"
    return f"<#{slack_place(record)[0]}>"


def escalation_blocks(record: EscalationView, permalink: str | None) -> list[dict[str, Any]]:
    who = f"<@{record.user_id}>" if record.channel == "slack" else f"`{escape(record.user_id)}` ({record.channel})"
    place = f"<{permalink}|{where(record)}>" if permalink else where(record)
    lines = [f"*Handed over* ({escape(record.reason)}) — {who} in {place}"]
    if record.language:
        lines.append(f"*Language:* {escape(record.language)}")  # the one to answer in
    if record.question:
        lines.append("*Question:* " + escape(clip(record.question, 1200)))
    if record.reply:
        lines.append("*Bot replied:* " + escape(clip(record.reply, 1200)))
    if record.sources:
        lines.append("*Sources:* " + " · ".join(f"<{safe_url(url)}>" for url in record.sources[:5]))
    lines.append(f"*Confidence:* {record.confidence:.2f}")
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": clip("\n".join(lines), 3000)}}
    ]
    if record.earlier:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": earlier_text(record.earlier)}})
    value = json.dumps({"u": record.user_id, "e": record.id})[:VALUE_CHARS]
    if record.state == "open":
        button = {"type": "button", "text": {"type": "plain_text", "text": "Claim"}, "action_id": CLAIM, "value": value}
        blocks.append({"type": "actions", "block_id": "sb_agent", "elements": [button | {"style": "primary"}]})
    elif record.state == "claimed" and not SLACK_USER.match(record.claimed_by):  # only its claimer resolves it
        blocks.append(_note(f"Claimed by {agent_name(record.claimed_by)}, outside Slack"))
    elif record.state == "claimed":
        blocks.append(_note(f"Claimed by {agent_name(record.claimed_by)}"))
        button = {
            "type": "button",
            "text": {"type": "plain_text", "text": "Resolve"},
            "action_id": RESOLVE,
            "value": value,
        }
        blocks.append({"type": "actions", "block_id": "sb_agent", "elements": [button]})
    else:
        blocks.append(_note(f"Resolved by {agent_name(record.claimed_by)}"))
    return blocks


def agent_name(agent: str) -> str:
    """A Slack user as a mention; anyone else (a help desk's or the command line's agent) as plain text."""
    if SLACK_USER.match(agent):
        return f"<@{agent}>"
    return "`" + escape(agent).replace("`", "'") + "`"  # a backtick would end the code span


def earlier_text(earlier: Sequence[Any]) -> str:
    """The conversation before the hand-over, one line an entry; the oldest go first past Slack's 3000."""
    lines = [
        f">*{'Customer' if e.role == 'customer' else 'Bot'}:* {escape(clip(' '.join(e.text.split()), EARLIER_CHARS))}"
        for e in list(earlier)[-EARLIER_SHOWN:]
    ]
    heading = "*Earlier in the conversation:*"
    while len(lines) > 1 and len(heading) + sum(len(line) + 1 for line in lines) > 3000:
        lines.pop(0)
    return clip("\n".join([heading, *lines]), 3000)


class AgentsChannel:
    def __init__(
        self,
        clients: WorkspaceClients,
        channel: str,
        desk: EscalationDesk,
        ledger: PostLedger,
        block_ms: int = 1000,
        workspace: Workspace | None = None,
    ) -> None:
        self.block_ms = block_ms
        self.clients = clients
        self.workspace = workspace or Workspace()  # where the agents' channel is (multi-workspace installs)
        self.channel = channel
        self.desk = desk
        self.ledger = ledger
        self.consumer = f"{socket.gethostname()}-{id(self)}"

    async def run(self) -> None:
        """Post hand-overs as they are recorded, until cancelled. `block_ms` must stay under the Redis
        client's socket timeout. Nothing but cancellation ends the loop: an entry that failed stays
        unacknowledged and is handed out again."""
        while True:
            try:
                for entry_id, record, said in await self.desk.follow(GROUP, self.consumer, block_ms=self.block_ms):
                    if said:  # the customer wrote while an agent holds it: into the hand-over's thread
                        if await self.relay_once(entry_id, record, said):
                            await self.desk.acknowledge(GROUP, entry_id)
                    elif record.agents_post:  # posted: the post follows the record, wherever it was claimed
                        if await self.refresh(record):  # else tried again later; the entries behind it go on
                            await self.desk.acknowledge(GROUP, entry_id)
                    elif record.state != "open" or await self.post_once(record):  # taken or closed: no post
                        await self.desk.acknowledge(GROUP, entry_id)
            except asyncio.CancelledError:
                raise
            except StoreUnavailable:
                await asyncio.sleep(2)
            except NotInstalled as error:
                log.error("the agents' channel cannot be reached: %s", error)
                await asyncio.sleep(30)
            except SlackApiError as error:
                log.error("could not post a hand-over to the agents' channel: %s", error.response.get("error"))
                await asyncio.sleep(2)
            except Exception:
                log.exception("the agents' channel feed failed; trying again")
                await asyncio.sleep(2)

    async def post_once(self, record: EscalationView) -> bool:
        """True when the hand-over is posted (now or before); False while another process is posting it."""
        key = f"agents:{record.id}"
        if not await self.ledger.claim(key):
            return await self.ledger.state(key) == "done"
        try:
            client = await self.clients.client_for(self.workspace)
            posted = await client.chat_postMessage(
                channel=self.channel,
                text=escape(f"Handed over: {clip(record.question, 200) or record.reason}"),
                blocks=escalation_blocks(record, await self._permalink(client, record)),
            )
        except BaseException:
            with contextlib.suppress(StoreUnavailable):
                await self.ledger.release(key)
            raise
        await self.ledger.done(key)
        try:  # its thread is where agents talk to the customer: a reply there finds the record by the post
            await self.desk.note_post(
                record.user_id, record.id, str(posted.get("channel") or self.channel), posted["ts"]
            )
        except StoreUnavailable:
            log.error("hand-over %s was posted, but replies in its thread will not reach the customer", record.id)
        return True

    async def refresh(self, record: EscalationView) -> bool:
        """The hand-over's post as the record stands now (claimed or resolved, here or elsewhere); False
        when Slack failed in passing (try again later). Read again just before and after the update, so
        that a slower process never leaves an older state showing. A post that cannot be updated (deleted,
        its channel archived, blocks refused) is logged and given up: it must not hold up the feed."""
        channel, _, ts = record.agents_post.partition(":")
        client = await self.clients.client_for(self.workspace)
        shown: tuple[str, str] | None = None
        for _ in range(3):
            now = await self.desk.get(record.user_id, record.id)
            if now is None or (now.state, now.claimed_by) == shown:
                return True
            try:
                await client.chat_update(
                    channel=channel,
                    ts=ts,
                    text=escape(f"Handed over: {clip(now.question, 200) or now.reason}"),
                    blocks=escalation_blocks(now, await self._permalink(client, now)),
                )
            except SlackApiError as error:
                reason = error.response.get("error")
                if reason in SLACK_PASSING:
                    log.warning("hand-over %s's post not updated yet: %s", record.id, reason)
                    return False
                log.warning("hand-over %s's post cannot be updated: %s", record.id, reason)
                return True
            shown = (now.state, now.claimed_by)
        return True

    async def relay_once(self, entry_id: str, record: EscalationView, said: str) -> bool:
        """The customer's message, posted in the hand-over's thread for the agent holding it (once)."""
        channel, _, thread = record.agents_post.partition(":")
        if not thread:
            return True  # never posted here (an agent took it elsewhere): the record keeps the message
        key = f"agents-said:{entry_id}"
        if not await self.ledger.claim(key):
            return await self.ledger.state(key) == "done"
        try:
            client = await self.clients.client_for(self.workspace)
            await client.chat_postMessage(
                channel=channel, thread_ts=thread, text=f"*Customer:* {escape(clip(said, 2900))}"
            )
        except BaseException:
            with contextlib.suppress(StoreUnavailable):
                await self.ledger.release(key)
            raise
        await self.ledger.done(key)
        return True

    async def on_reply(self, event: dict[str, Any], replies: ReplySender, bot_user_id: str = "") -> bool:
        """A message in a thread of the agents' channel; False when the thread is not a hand-over's. The
        claimer's message goes to the customer; one starting with "note:" or "//", one that mentions someone
        and anyone else's stay among agents. An agent whose message was not sent is told why, privately."""
        channel, thread, agent = str(event.get("channel", "")), str(event.get("thread_ts", "")), str(event.get("user"))
        client = await self.clients.client_for(self.workspace)
        record = await self.desk.posted(channel, thread) or await self._from_post(client, channel, thread)
        if record is None:
            return False
        raw = str(event.get("text", ""))
        if bot_user_id and f"<@{bot_user_id}" in raw:
            return True  # a question to the bot: its mention is answered as one
        text = agent_text(raw)
        if not text or INTERNAL.match(text):
            return True
        if record.state == "claimed" and record.claimed_by != agent:
            if not SLACK_USER.match(record.claimed_by):  # taken by the help desk or the command line
                held = f"Not sent to the customer: {record.claimed_by} holds this hand-over (claimed outside Slack)."
                await self._whisper(client, channel, thread, agent, held)
            return True
        if record.state == "open":  # claimed first: a question to a colleague never reaches the customer
            hint = "Not sent to the customer: this hand-over is not claimed yet. Claim it to reply."
            await self._whisper(client, channel, thread, agent, hint)
            return True
        if MENTION.search(raw):
            hint = "Not sent to the customer: a message that mentions someone stays among agents."
            await self._whisper(client, channel, thread, agent, hint)
            return True
        await self._send(client, event, record, replies, text)
        return True

    async def _send(
        self, client: AsyncWebClient, event: dict[str, Any], record: EscalationView, replies: ReplySender, text: str
    ) -> None:
        channel, thread, agent = str(event.get("channel", "")), str(event.get("thread_ts", "")), str(event.get("user"))
        profile = event.get("user_profile") or {}  # Slack's message events carry the author's names
        name = str(profile.get("first_name") or profile.get("display_name") or profile.get("real_name") or "")
        try:  # resolved: refused, unless it is a late retry of a reply already sent (then a duplicate)
            await replies.send(record.user_id, record.id, agent, text, f"slack-{event.get('ts', '')}", name)
        except ValueError as refused:  # AgentReplyError: unreachable, too long…
            await self._whisper(client, channel, thread, agent, f"Not sent to the customer: {refused}")
        except StoreUnavailable:
            await self._whisper(client, channel, thread, agent, "Not sent: Redis is unavailable; post it again.")
        except Exception as error:  # the customer's channel failed: nothing was marked sent
            log.warning("an agent's reply on escalation %s was not delivered: %r", record.id, error)
            failed = "Not sent: the customer's channel did not take it just now; post it again."
            await self._whisper(client, channel, thread, agent, failed)

    async def _from_post(self, client: AsyncWebClient, channel: str, thread: str) -> EscalationView | None:
        """A hand-over posted before its post was recorded (an older version, a failed write): read from the
        post's own buttons, then recorded."""
        if not thread:
            return None
        try:
            found = await client.conversations_replies(channel=channel, ts=thread, limit=1)
        except SlackApiError:
            return None
        messages = found.get("messages") or []
        post = messages[0] if messages and str(messages[0].get("ts")) == thread else {}
        for block in post.get("blocks") or ():
            if block.get("block_id") != "sb_agent":
                continue
            for button in block.get("elements") or ():
                try:
                    value = json.loads(button.get("value") or "{}")
                    user_id, escalation_id = str(value["u"]), str(value["e"])
                except (ValueError, KeyError, TypeError):
                    continue
                record: EscalationView | None = await self.desk.get(user_id, escalation_id)
                if record is not None:
                    await self.desk.note_post(user_id, escalation_id, channel, thread)
                return record
        return None

    async def _whisper(self, client: AsyncWebClient, channel: str, thread: str, agent: str, text: str) -> None:
        with contextlib.suppress(SlackApiError):
            await client.chat_postEphemeral(channel=channel, thread_ts=thread, user=agent, text=text)

    async def _permalink(self, client: AsyncWebClient, record: EscalationView) -> str | None:
        if record.channel != "slack":
            return None
        channel, thread = slack_place(record)
        if not thread or thread == channel:
            return None
        try:
            found = await client.chat_getPermalink(channel=channel, message_ts=thread)
        except SlackApiError:
            return None
        return str(found.get("permalink") or "") or None

    async def on_click(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        """Claim or Resolve: the record moves (atomically), and the post shows who took it."""
        try:
            value = json.loads(action.get("value") or "{}")
        except ValueError:
            return
        agent = (body.get("user") or {}).get("id", "")
        client = await self.clients.client_for(self.workspace)
        move = self.desk.claim if action.get("action_id") == CLAIM else self.desk.resolve
        try:
            record = await move(str(value.get("u", "")), str(value.get("e", "")), agent)
        except ValueError as refused:  # EscalationError: taken by someone else, already resolved, gone
            await self._tell(client, body, agent, str(refused))
            return
        except StoreUnavailable:
            await self._tell(client, body, agent, "Redis is unavailable; try again in a moment.")
            return
        message = body.get("message") or {}
        with contextlib.suppress(StoreUnavailable):  # as it stands now, not a moment ago (the move is made)
            record = await self.desk.get(record.user_id, record.id) or record
        blocks = escalation_blocks(record, None)
        if message.get("blocks"):
            blocks[0] = message["blocks"][0]  # the summary as first posted, with its permalink
        await client.chat_update(
            channel=(body.get("container") or {}).get("channel_id", self.channel),
            ts=message.get("ts", ""),
            text=message.get("text", "Handed over"),
            blocks=blocks,
        )

    async def _tell(self, client: AsyncWebClient, body: dict[str, Any], agent: str, text: str) -> None:
        channel = (body.get("container") or {}).get("channel_id", self.channel)
        with contextlib.suppress(SlackApiError):
            await client.chat_postEphemeral(channel=channel, user=agent, text=text)
