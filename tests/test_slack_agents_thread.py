"""The Slack agents' channel both ways, end to end through the real server and a fake Slack Web API: a web
widget customer handed over is posted there; the agent who claimed it answers in the post's thread and the
customer's open socket gets it (once, however often Slack delivers the event); notes, other agents and bots
in the thread stay among agents; while the agent holds the conversation the customer's messages go to them
(the thread) instead of being answered by the assistant, until the hand-over is resolved."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from aiohttp import ClientSession, ClientWebSocketResponse
from pydantic import SecretStr
from redis.asyncio import Redis
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import create_app
from bot.settings import FileConfig, Settings
from channels.slack.agents import CLAIM, RESOLVE, AgentsChannel
from channels.slack.clients import OneWorkspace
from engine.replies import reply_text
from engine.types import ConversationRef
from memory.escalations import Escalation, RedisEscalationStore
from memory.ledger import RedisIngressLedger
from tests.conftest import own_prefix, start_ready
from tests.slack_fake import BOT_ID, BOT_USER, FakeSlack, click_body, event_body, signed, start_fake
from tests.test_slack import send, with_slack
from tests.test_web_socket import hello, receive, session_for, until_final

AGENTS = "CAGENTS02"
TOKEN = "agents-thread-token-0123456789"
HUMAN = "I want to talk to a human"
QUESTION = "how long do refunds take to reach my card?"
DANA, SAM = "UAGENTDANA", "UAGENTSAM"
RELAYED = "relayed_to_agent"

T = TypeVar("T")


@dataclass
class Desk:
    url: str
    fake: FakeSlack
    store: RedisEscalationStore


@dataclass
class Customer:
    ws: ClientWebSocketResponse
    user: str
    conversation: str
    escalation_id: str
    post: dict[str, Any]  # chat.postMessage's arguments: the hand-over as posted to the agents' channel
    ts: str  # the post's ts: its thread is where agents answer the customer
    seq: int  # of the last frame the customer's socket got
    token: str  # the widget's session


@pytest.fixture(scope="module")
async def desk(settings: Settings, file_config: FileConfig, redis_url: str) -> AsyncIterator[Desk]:
    """One server for the module: Slack (fake Web API) with an agents' channel, and the web widget."""
    async for fake, api_url in start_fake():
        config = own_prefix(file_config, f"agents-thread-{uuid.uuid4().hex[:8]}")
        slack = config.slack.model_copy(
            update={"agents_channel": AGENTS, "update_interval_s": 0.2, "delivery_backoff_s": 0.2}
        )
        config = config.model_copy(update={"slack": slack})
        with_token = with_slack(settings, api_url).model_copy(update={"api_token": SecretStr(TOKEN)})
        server = await start_ready(create_app(with_token, config))
        client: Redis = Redis.from_url(redis_url, decode_responses=True)
        try:
            yield Desk(str(server.make_url("")).rstrip("/"), fake, RedisEscalationStore(client, config.memory.prefix))
        finally:
            await server.close()
            async for key in client.scan_iter(match=f"{config.memory.prefix}:*", count=500):
                await client.delete(key)
            await client.aclose()


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


# --- helpers ---------------------------------------------------------------------------------------------


async def until(check: Callable[[], Awaitable[T | None]], what: str, within_s: float = 30) -> T:
    """The first truthy value of `check`, polled until `within_s` has passed."""
    deadline = time.monotonic() + within_s
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def seen(check: Callable[[], T], what: str, within_s: float = 30) -> T:
    """The first truthy value of a check of what the fake Slack was sent."""

    async def polled() -> T:
        return check()

    return await until(polled, what, within_s)


async def record(desk: Desk, customer: Customer) -> Escalation:
    found = await desk.store.get(customer.user, customer.escalation_id)
    assert found is not None
    return found


async def in_state(desk: Desk, customer: Customer, state: str) -> Escalation:
    async def check() -> Escalation | None:
        found = await record(desk, customer)
        return found if found.state == state else None

    return await until(check, f"the hand-over to be {state}")


def hand_over_posts(fake: FakeSlack, user: str) -> list[dict[str, Any]]:
    return [
        c.args
        for c in fake.of("chat.postMessage")
        if c.args.get("channel") == AGENTS and not c.args.get("thread_ts") and user in str(c.args.get("blocks"))
    ]


def thread_posts(fake: FakeSlack, ts: str) -> list[dict[str, Any]]:
    return [
        c.args for c in fake.of("chat.postMessage") if c.args.get("channel") == AGENTS and c.args.get("thread_ts") == ts
    ]


def whispers(fake: FakeSlack, ts: str, agent: str) -> list[str]:
    """The ephemeral messages `agent` was shown in the thread of `ts`."""
    return [
        str(c.args.get("text"))
        for c in fake.of("chat.postEphemeral")
        if c.args.get("channel") == AGENTS and c.args.get("thread_ts") == ts and c.args.get("user") == agent
    ]


async def handed_over(http: ClientSession, desk: Desk, before: tuple[str, ...] = ()) -> Customer:
    """A new widget customer (who first asks `before`) asks for a person; the hand-over is posted to the
    agents' channel."""
    issued = await session_for(http, desk.url)
    user, conversation = issued["user_id"], f"c-{uuid.uuid4().hex[:8]}"
    ws, _ = await hello(http, desk.url, issued["token"], conversation)
    for n, text in enumerate(before):
        await ws.send_json({"type": "message", "text": text, "client_id": f"before-{n}"})
        assert (await until_final(ws))[-1]["type"] == "final"
    await ws.send_json({"type": "message", "text": HUMAN, "client_id": "human"})
    handed = (await until_final(ws))[-1]
    assert handed["type"] == "final", handed
    assert handed["reply"]["metadata"]["escalated"] is True

    async def posted() -> Escalation | None:
        mine = [r for r in await desk.store.list("open", limit=1000) if r.user_id == user]
        assert len(mine) <= 1, "one hand-over, one record"
        return mine[0] if mine and mine[0].agents_post else None

    escalation = await until(posted, "the hand-over's post to be noted on its record")
    channel, _, ts = escalation.agents_post.partition(":")
    assert (escalation.channel, escalation.conversation_id, channel) == ("web", conversation, AGENTS)
    [post] = hand_over_posts(desk.fake, user)
    return Customer(ws, user, conversation, escalation.id, post, ts, handed["seq"], issued["token"])


def in_thread(customer: Customer, user: str, text: str, **extra: Any) -> dict[str, Any]:
    return {
        "type": "message",
        "channel": AGENTS,
        "channel_type": "channel",
        "user": user,
        "text": text,
        "ts": f"{time.time():.6f}",
        "thread_ts": customer.ts,
    } | extra


async def say(desk: Desk, event: dict[str, Any]) -> str:
    """The event delivered by Slack (signed, a new event id); the body sent."""
    body = event_body(event, f"Ev{uuid.uuid4().hex[:10]}")
    status, _ = await send(desk.url, body)
    assert status == 200
    return body


async def click(desk: Desk, customer: Customer, agent: str, action_id: str) -> None:
    """`agent` clicks the one button the hand-over's post shows now (Claim, then Resolve)."""
    edits = [
        c.args
        for c in desk.fake.of("chat.update")
        if c.args.get("channel") == AGENTS and c.args.get("ts") == customer.ts
    ]
    shown = edits[-1] if edits else customer.post
    blocks = shown["blocks"] if isinstance(shown["blocks"], list) else json.loads(shown["blocks"])
    [button] = [e for b in blocks if b.get("block_id") == "sb_agent" for e in b["elements"]]
    assert button["action_id"] == action_id
    message = {"ts": customer.ts, "text": shown["text"], "blocks": blocks}
    status, _ = await send(desk.url, click_body(AGENTS, agent, "sb_agent", button, message), form=True)
    assert status == 200


async def jobs_done(desk: Desk) -> None:
    """Every Slack job taken so far has finished (a finished job is deleted from the stream; one that failed
    stays there until handed out again)."""
    stream = f"{desk.store.prefix}:slack:jobs"

    async def empty() -> bool:
        return await desk.store.client.xlen(stream) == 0

    await until(empty, "the Slack jobs to finish")
    assert await desk.store.client.xlen(f"{stream}:dead") == 0


async def nothing_more(ws: ClientWebSocketResponse, wait_s: float = 1.0) -> None:
    with pytest.raises(asyncio.TimeoutError):
        await ws.receive(timeout=wait_s)


# --- the agent's reply reaches the customer ----------------------------------------------------------------


async def test_the_claimers_reply_in_the_thread_reaches_the_widget_once(http: ClientSession, desk: Desk) -> None:
    customer = await handed_over(http, desk)
    assert "Claim" in json.dumps(customer.post["blocks"])
    assert f"`{customer.user}` (web)" in json.dumps(customer.post["blocks"])
    await click(desk, customer, DANA, CLAIM)
    claimed = await in_state(desk, customer, "claimed")
    assert claimed.claimed_by == DANA

    said = in_thread(
        customer,
        DANA,
        "Hi, Dana here. Your label: <https://help.brightcart.example/returns/start|start a return>\n"
        "Drop it at the post office &amp; keep the receipt.",
        user_profile={"first_name": "Dana", "real_name": "Dana Whitfield", "display_name": "dana.w"},
    )
    body = await say(desk, said)
    live = await receive(customer.ws, 20)
    assert (live["type"], live["seq"]) == ("final", customer.seq + 1)
    assert live["message_id"] == f"agent-slack-{said['ts']}"
    assert live["reply"]["response"] == (
        "Hi, Dana here. Your label: [start a return](https://help.brightcart.example/returns/start)\n"
        "Drop it at the post office & keep the receipt."
    )
    assert live["reply"]["metadata"]["intent"] == "agent_reply"
    assert live["reply"]["metadata"]["agent"] == "Dana"  # the first name Slack gives, never the user id
    assert live["reply"]["metadata"]["escalated"] is False

    async def counted() -> Escalation | None:  # noted on the record just after it is sent
        found = await record(desk, customer)
        return found if found.agent_replies else None

    assert (await until(counted, "the reply to be counted")).agent_replies == 1

    # Slack's retry of the same event, and the same message under another event id: nothing more is sent
    status, _ = await send(desk.url, body, signed(body) | {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "timeout"})
    assert status == 200
    await say(desk, said)
    await jobs_done(desk)
    await nothing_more(customer.ws)
    after = await record(desk, customer)
    assert (after.state, after.claimed_by, after.agent_replies) == ("claimed", DANA, 1)
    assert whispers(desk.fake, customer.ts, DANA) == [], "a duplicate is not an error to tell the agent"

    # a reload replays the reply with the conversation, once
    await customer.ws.close()
    reloaded, _ = await hello(http, desk.url, customer.token, customer.conversation)
    frames = [await receive(reloaded, 10) for _ in range(3)]
    assert [f["type"] for f in frames] == ["message", "final", "final"]
    assert frames[-1] == live
    await nothing_more(reloaded, 0.5)

    # resolved, then Slack delivers the same message late: still a duplicate, not "Not sent… resolved"
    await click(desk, customer, DANA, RESOLVE)
    await in_state(desk, customer, "resolved")
    await say(desk, said)
    await jobs_done(desk)
    assert whispers(desk.fake, customer.ts, DANA) == []
    await nothing_more(reloaded, 0.5)
    await reloaded.close()


async def test_the_post_shows_the_agent_what_was_said_before_the_hand_over(http: ClientSession, desk: Desk) -> None:
    # an agent used to see only "I want to talk to a human", not the question that went unanswered
    customer = await handed_over(http, desk, before=(QUESTION, "my email is dana.k@example.com <b>thanks</b>"))
    blocks = (
        customer.post["blocks"] if isinstance(customer.post["blocks"], list) else json.loads(customer.post["blocks"])
    )
    [earlier] = [
        b["text"]["text"] for b in blocks if "Earlier in the conversation" in b.get("text", {}).get("text", "")
    ]
    lines = earlier.splitlines()[1:]
    assert [line.split(":*")[0] for line in lines] == [">*Customer", ">*Bot", ">*Customer", ">*Bot"]
    assert lines[0] == f">*Customer:* {QUESTION}"
    assert "dana.k@example.com" not in earlier, "as history keeps it: personal data stays redacted"
    assert "&lt;b&gt;thanks&lt;/b&gt;" in earlier, "the customer's text cannot make Slack markup"
    kept = await record(desk, customer)
    assert [e.role for e in kept.earlier] == ["customer", "assistant", "customer", "assistant"]
    async with http.get(
        f"{desk.url}/api/escalations/{customer.escalation_id}", params={"user_id": customer.user}
    ) as response:  # from this machine: no agent token needed
        assert response.status == 200
        shown = await response.json()
    assert shown["earlier"][0] == {"role": "customer", "text": QUESTION}
    assert shown["earlier"] == [{"role": e.role, "text": e.text} for e in kept.earlier]
    await customer.ws.close()


# --- what stays among agents -------------------------------------------------------------------------------


async def test_notes_other_agents_and_an_unclaimed_hand_over_send_nothing(http: ClientSession, desk: Desk) -> None:
    customer = await handed_over(http, desk)

    # open: whoever writes in the thread is told to claim it first; the customer gets nothing
    await say(desk, in_thread(customer, SAM, "Hello! Let me look into this for you."))
    [told] = await seen(lambda: whispers(desk.fake, customer.ts, SAM), "Sam to be told")
    assert told.startswith("Not sent to the customer")
    assert "Claim" in told
    await jobs_done(desk)
    await nothing_more(customer.ws)
    still = await record(desk, customer)
    assert (still.state, still.claimed_by, still.agent_replies) == ("open", "", 0)

    await click(desk, customer, DANA, CLAIM)
    await in_state(desk, customer, "claimed")
    # notes, another agent, the bot's own post: nothing to the customer, nobody told anything
    await say(desk, in_thread(customer, DANA, "note: checking the warehouse first"))
    await say(desk, in_thread(customer, DANA, "Note : she ordered twice"))
    await say(desk, in_thread(customer, DANA, "// refund approved by finance"))
    await say(desk, in_thread(customer, SAM, "I can take this one if you like"))
    await say(desk, in_thread(customer, BOT_USER, "*Customer:* hello?", bot_id=BOT_ID))
    await jobs_done(desk)
    await nothing_more(customer.ws)
    assert whispers(desk.fake, customer.ts, DANA) == []
    assert len(whispers(desk.fake, customer.ts, SAM)) == 1

    # a message that mentions a colleague is for them: kept back, and the claimer told so
    await say(desk, in_thread(customer, DANA, f"<@{SAM}> can you approve the refund?"))
    [mentioned] = await seen(lambda: whispers(desk.fake, customer.ts, DANA), "Dana to be told")
    assert "mentions someone" in mentioned
    await jobs_done(desk)
    await nothing_more(customer.ws)
    desk.fake.calls = [c for c in desk.fake.calls if c.method != "chat.postEphemeral"]

    # a reply the customer cannot be sent (too long) is refused, and the claimer told why
    await say(desk, in_thread(customer, DANA, "x" * 4001))
    [refused] = await seen(lambda: whispers(desk.fake, customer.ts, DANA), "Dana to be told")
    assert refused.startswith("Not sent to the customer")
    assert "4000" in refused

    # the claimer's plain reply does go (so the ones before were really kept back, not slow)
    await say(desk, in_thread(customer, DANA, "Thanks for waiting, I'm on it."))
    live = await receive(customer.ws, 20)
    assert (live["type"], live["seq"], live["reply"]["response"]) == (
        "final",
        customer.seq + 1,
        "Thanks for waiting, I'm on it.",
    )
    await nothing_more(customer.ws, 1.0)
    assert (await record(desk, customer)).agent_replies == 1
    await customer.ws.close()


# --- the customer's messages go to the agent who holds the conversation ------------------------------------


async def test_while_claimed_the_customer_is_relayed_to_the_thread_until_resolved(
    http: ClientSession, desk: Desk
) -> None:
    customer = await handed_over(http, desk)
    await click(desk, customer, DANA, CLAIM)
    await in_state(desk, customer, "claimed")

    text = "Also, the parcel was left at my neighbour's door"
    await customer.ws.send_json({"type": "message", "text": text, "client_id": "held1"})
    relayed = (await until_final(customer.ws))[-1]
    assert relayed["type"] == "final"
    assert relayed["reply"]["response"] == reply_text("relayed", "en")
    assert relayed["reply"]["metadata"]["intent"] == RELAYED
    assert relayed["reply"]["metadata"]["escalated"] is False
    assert relayed["reply"]["sources"] == []
    held = await record(desk, customer)
    assert (held.state, held.claimed_by, held.latest_question, held.customer_messages) == ("claimed", DANA, text, 1)
    assert held.repeats == 0, "a relayed message is not another hand-over"
    relays = await seen(lambda: thread_posts(desk.fake, customer.ts), "the customer's message")
    assert [p["text"] for p in relays] == [f"*Customer:* {text}"]

    # in the customer's language, and again into the thread
    spanish = "¿Pueden decirme cuándo llegará el reembolso a mi tarjeta de crédito, por favor?"
    await customer.ws.send_json({"type": "message", "text": spanish, "client_id": "held2"})
    relayed = (await until_final(customer.ws))[-1]
    assert relayed["reply"]["metadata"]["intent"] == RELAYED
    assert relayed["reply"]["response"] == reply_text("relayed", "es")
    assert (await record(desk, customer)).customer_messages == 2

    # the agent reads the contact details they need; a card number stays a placeholder for them too
    await customer.ws.send_json(
        {
            "type": "message",
            "text": "You can also mail me at jo.doe@gmail.com, card 4111 1111 1111 1111",
            "client_id": "held3",
        }
    )
    relayed = (await until_final(customer.ws))[-1]
    assert relayed["reply"]["metadata"]["intent"] == RELAYED
    held = await record(desk, customer)
    mailed = "You can also mail me at jo.doe@gmail.com, card <CARD_1>"  # the agent reads what they need
    assert (held.latest_question, held.customer_messages) == (mailed, 3)
    await seen(lambda: len(thread_posts(desk.fake, customer.ts)) == 3, "the third message")
    async with http.get(f"{desk.url}/api/escalations/{customer.escalation_id}?user_id={customer.user}") as shown:
        assert shown.status == 200, await shown.text()  # no agent token here: this machine is answered
        kept = await shown.json()
    assert [m["text"] for m in kept["messages"]] == [text, spanish, mailed]
    await jobs_done(desk)
    await asyncio.sleep(1.2)  # the agents' channel reads its feed each second: a second post would be there
    assert [p["text"] for p in thread_posts(desk.fake, customer.ts)] == [
        f"*Customer:* {text}",
        f"*Customer:* {spanish}",
        "*Customer:* You can also mail me at jo.doe@gmail.com, card &lt;CARD_1&gt;",
    ], "each message once, in the hand-over's thread"

    await click(desk, customer, DANA, RESOLVE)
    await in_state(desk, customer, "resolved")
    # resolved: the agent's reply in the thread is not sent, and the agent told so
    await say(desk, in_thread(customer, DANA, "One more thing…"))
    [told] = await seen(lambda: whispers(desk.fake, customer.ts, DANA), "Dana to be told")
    assert told.startswith("Not sent to the customer")
    assert "resolved" in told

    # the assistant answers again
    await customer.ws.send_json({"type": "message", "text": QUESTION, "client_id": "after"})
    answered = (await until_final(customer.ws))[-1]
    assert answered["type"] == "final"
    assert answered["reply"]["metadata"]["intent"] != RELAYED
    assert answered["reply"]["response"] != reply_text("relayed", "en")
    assert "refund" in answered["reply"]["response"].lower()
    await nothing_more(customer.ws, 1.0)
    assert (await record(desk, customer)).customer_messages == 3
    assert len(thread_posts(desk.fake, customer.ts)) == 3, "nothing more was relayed once resolved"
    await customer.ws.close()


async def test_a_claim_quiet_for_a_day_no_longer_holds_the_conversation(http: ClientSession, desk: Desk) -> None:
    customer = await handed_over(http, desk)
    await click(desk, customer, DANA, CLAIM)
    await in_state(desk, customer, "claimed")
    key = desk.store.record_key(customer.user, customer.escalation_id)
    await desk.store.client.hset(key, "agent_at", str(time.time() - 25 * 3600))  # claimed, then left a day
    await customer.ws.send_json({"type": "message", "text": QUESTION, "client_id": "later"})
    answered = (await until_final(customer.ws))[-1]
    assert answered["reply"]["metadata"]["intent"] != RELAYED
    assert "refund" in answered["reply"]["response"].lower()
    quiet = await record(desk, customer)
    assert (quiet.state, quiet.customer_messages, quiet.latest_question) == ("claimed", 0, "")
    await jobs_done(desk)
    await asyncio.sleep(1.2)
    assert thread_posts(desk.fake, customer.ts) == []
    await customer.ws.close()


async def test_the_bot_still_follows_up_in_a_thread_it_answered_in_the_agents_channel(desk: Desk) -> None:
    # an agent asks the bot itself in the agents' channel: that thread is the bot's, not a hand-over's
    asked = f"{time.time():.6f}"
    mention = {"type": "app_mention", "channel": AGENTS, "user": DANA, "ts": asked}
    await say(desk, mention | {"text": f"<@{BOT_USER}> how long do refunds take?"})

    def answers() -> list[dict[str, Any]]:
        posted = [c.args for c in desk.fake.of("chat.postMessage") if c.args.get("channel") == AGENTS]
        return [a for a in posted if a.get("thread_ts") == asked]

    await seen(answers, "the bot's answer in the agents' channel")
    await jobs_done(desk)  # answered: the thread is the bot's
    follow_up = {"type": "message", "channel": AGENTS, "channel_type": "channel", "user": DANA}
    await say(desk, follow_up | {"text": "and for a gift card?", "ts": f"{time.time():.6f}", "thread_ts": asked})
    await seen(lambda: len(answers()) >= 2, "the follow-up answered without a mention")
    await jobs_done(desk)


async def test_a_hand_over_claimed_outside_slack_tells_a_slack_agent_who_holds_it(
    http: ClientSession, desk: Desk
) -> None:
    customer = await handed_over(http, desk)
    await desk.store.claim(customer.user, customer.escalation_id, "ann@help-desk.example")

    def post_now() -> list[dict[str, Any]]:
        edits = [c.args for c in desk.fake.of("chat.update") if c.args.get("ts") == customer.ts]
        blocks = edits[-1]["blocks"] if edits else []
        return json.loads(blocks) if isinstance(blocks, str) else list(blocks)

    def shows(text: str) -> Callable[[], list[dict[str, Any]]]:
        """The post's blocks once they show `text`; empty (not yet) before."""

        def check() -> list[dict[str, Any]]:
            blocks = post_now()
            return blocks if text in json.dumps(blocks) else []

        return check

    # the post used to keep offering "Claim" to Slack agents after the help desk had taken the hand-over
    claimed = await seen(shows("Claimed by `ann@help-desk.example`, outside Slack"), "the post to show the claim")
    assert not [b for b in claimed if b.get("block_id") == "sb_agent"], "only its claimer can resolve it"
    await say(desk, in_thread(customer, DANA, "Hi! Dana here, what happened?"))
    [told] = await seen(lambda: whispers(desk.fake, customer.ts, DANA), "Dana to be told")
    assert "ann@help-desk.example" in told
    await jobs_done(desk)
    await nothing_more(customer.ws)
    await desk.store.resolve(customer.user, customer.escalation_id, "ann@help-desk.example")
    await seen(shows("Resolved by `ann@help-desk.example`"), "the post to show it resolved")
    await customer.ws.close()


async def test_a_post_from_before_posts_were_recorded_is_found_by_its_buttons(http: ClientSession, desk: Desk) -> None:
    customer = await handed_over(http, desk)
    await click(desk, customer, DANA, CLAIM)
    await in_state(desk, customer, "claimed")
    await desk.store.client.delete(desk.store.post_key(AGENTS, customer.ts))  # as an older version left it
    blocks = customer.post["blocks"]
    post = {
        "ts": customer.ts,
        "text": customer.post["text"],
        "blocks": json.loads(blocks) if isinstance(blocks, str) else blocks,
    }
    desk.fake.replies[customer.ts] = [post]  # what conversations.replies answers for the post
    await say(desk, in_thread(customer, DANA, "Found it: a replacement ships today."))
    live = await receive(customer.ws, 20)
    assert live["reply"]["response"] == "Found it: a replacement ships today."
    assert await desk.store.posted(AGENTS, customer.ts) is not None, "recorded for the next reply"
    await customer.ws.close()


@pytest.mark.parametrize(("error", "given_up"), [("message_not_found", True), ("fatal_error", False)])
async def test_a_post_that_cannot_be_updated_does_not_hold_up_the_hand_overs_behind_it(
    redis_url: str, error: str, given_up: bool
) -> None:
    """A deleted post or an archived channel used to leave its claim unacknowledged at the head of the feed:
    the hand-overs read in the same batch behind it were never posted (each retry failed on it first). A
    post that is gone is given up; one Slack failed in passing is tried again later (left pending)."""
    prefix = f"sbtest-{uuid.uuid4().hex[:10]}"
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    store = RedisEscalationStore(client, prefix=prefix)
    async for fake, api_url in start_fake():
        web_client = AsyncWebClient(token="xoxb-test", base_url=api_url)
        channel = AgentsChannel(OneWorkspace(web_client), AGENTS, store, RedisIngressLedger(client, prefix), 200)
        try:
            first = await store.open(ConversationRef("web", "c-1", "u-1"), "m-1", "human_request", "help", "ok")
            await store.note_post("u-1", first.id, AGENTS, "1699999999.000100")  # posted earlier
            await store.claim("u-1", first.id, "ann@help-desk.example")  # its post is to follow this
            second = await store.open(ConversationRef("web", "c-2", "u-2"), "m-2", "human_request", "hi", "ok")
            fake.failures["chat.update"] = [error] * 20
            running = asyncio.create_task(channel.run())

            async def waiting() -> set[str]:
                """Whose feed entries are taken but not acknowledged (to be handed out again)."""
                entries: Any = await client.xpending_range(store.feed_key, "slack-agents", "-", "+", 100)
                found: list[Any] = [
                    await client.xrange(store.feed_key, e["message_id"], e["message_id"]) for e in entries
                ]
                return {str(data["member"]).split("/")[0] for [(_, data)] in found}

            try:
                await fake.wait_for(lambda f: any(c.method == "chat.postMessage" for c in f.calls), 20)
                for _ in range(100):  # the post is acknowledged just after it is sent
                    if "u-2" not in await waiting():
                        break
                    await asyncio.sleep(0.05)
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
            [posted] = [c.args for c in fake.of("chat.postMessage")]
            assert second.id in json.dumps(posted["blocks"])
            assert any(c.method == f"chat.update!{error}" for c in fake.calls)
            assert await waiting() == (set() if given_up else {"u-1"})
        finally:
            async for key in client.scan_iter(match=f"{prefix}:*", count=500):
                await client.delete(key)
            await client.aclose()
