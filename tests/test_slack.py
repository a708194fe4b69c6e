"""The Slack channel end to end: signed requests into the real server, answers out to a fake Web API."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from functools import partial
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientSession
from pydantic import SecretStr
from redis.asyncio import Redis

from bot.app import create_app
from bot.settings import FileConfig, Settings, SettingsError
from bot.slack import slack_status
from channels.slack.blocks import escape
from engine.replies import reply_text
from memory.escalations import RedisEscalationStore
from memory.feedback import RedisFeedbackStore
from tests.conftest import own_prefix, start_ready
from tests.slack_fake import (
    BOT_ID,
    BOT_USER,
    SECRET,
    TEAM,
    TOKEN,
    FakeSlack,
    click_body,
    event_body,
    signed,
)
from tests.slack_fake import start_fake as _start_fake

QUESTION = "how long have i got to send something back?"
AGENTS = "CAGENTS01"


@pytest.fixture(scope="module")
async def slack() -> AsyncIterator[tuple[FakeSlack, str]]:
    async for started in _start_fake():
        yield started


@pytest.fixture(scope="module")
async def server(
    slack: tuple[FakeSlack, str], settings: Settings, file_config: FileConfig
) -> AsyncIterator[tuple[str, FakeSlack]]:
    fake, api_url = slack
    slack_config = file_config.slack.model_copy(
        update={"update_interval_s": 0.2, "agents_channel": AGENTS, "delivery_backoff_s": 0.2}
    )
    fast = file_config.model_copy(update={"slack": slack_config})
    test_server = await start_ready(create_app(with_slack(settings, api_url), fast))
    yield str(test_server.make_url("")), fake
    await test_server.close()


def with_slack(settings: Settings, api_url: str) -> Settings:
    return settings.model_copy(
        update={
            "slack_bot_token": SecretStr(TOKEN),
            "slack_signing_secret": SecretStr(SECRET),
            "slack_api_url": api_url,
        }
    )


async def send(url: str, body: str, headers: dict[str, str] | None = None, form: bool = False) -> tuple[int, str]:
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    async with ClientSession() as session:
        sent = {"Content-Type": content_type} | (signed(body) if headers is None else headers)
        async with session.post(f"{url}/slack/events", data=body.encode(), headers=sent) as response:
            return response.status, await response.text()


def dm(channel: str, user: str, text: str) -> dict[str, Any]:
    return {"type": "message", "channel": channel, "channel_type": "im", "user": user, "text": text, "ts": new_ts()}


def new_ts() -> str:
    return f"{time.time():.6f}"


def channel_id() -> str:
    return "C" + uuid.uuid4().hex[:8].upper()


def final_updates(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [c.args for c in fake.of("chat.update") if c.args.get("channel") == channel and c.args.get("blocks")]


def answers_in(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    """Edits that put the demo answer in place, with blocks or without (not the streamed progress, "… …")."""
    edits = [c.args for c in fake.of("chat.update") if c.args.get("channel") == channel]
    return [e for e in edits if "30 days" in e["text"] and not e["text"].endswith(" …")]


def edited_messages(fake: FakeSlack, channel: str) -> int:
    """How many messages were edited in the channel, refused edits included."""
    edits = [c.args for c in fake.calls if c.method.startswith("chat.update") and c.args["channel"] == channel]
    return len({edit["ts"] for edit in edits})


def stopped_in(fake: FakeSlack, channel: str) -> bool:
    return any(c.args.get("channel") == channel for c in fake.of("chat.stopStream"))


def posts(fake: FakeSlack, channel: str) -> list[dict[str, Any]]:
    return [c.args for c in fake.of("chat.postMessage") if c.args.get("channel") == channel]


def blocks_text(blocks: Any) -> str:
    return json.dumps(blocks if isinstance(blocks, list) else json.loads(blocks))


# --- transport ----------------------------------------------------------------------------------------------


async def test_url_verification_is_answered(server: tuple[str, FakeSlack]) -> None:
    url, _ = server
    body = json.dumps({"type": "url_verification", "challenge": "abc123", "token": "x"})
    status, text = await send(url, body)
    assert status == 200
    assert json.loads(text) == {"challenge": "abc123"}


@pytest.mark.parametrize("case", ["bad", "stale", "missing", "other-secret"])
async def test_unsigned_or_stale_requests_get_401_and_nothing_runs(server: tuple[str, FakeSlack], case: str) -> None:
    url, fake = server
    channel = channel_id()
    event = {
        "type": "app_mention",
        "channel": channel,
        "user": "U1",
        "text": f"<@{BOT_USER}> {QUESTION}",
        "ts": new_ts(),
    }
    body = event_body(event, f"Ev{uuid.uuid4().hex[:8]}")
    headers = {
        "bad": signed(body) | {"X-Slack-Signature": "v0=" + "0" * 64},
        "stale": signed(body, timestamp=int(time.time()) - 6 * 60),
        "missing": {},
        "other-secret": signed(body, secret="not-the-signing-secret-000"),
    }[case]
    status, _ = await send(url, body, headers)
    assert status == 401
    await asyncio.sleep(0.5)
    assert posts(fake, channel) == []


async def test_malformed_bodies_are_refused_before_anything_parses_them(server: tuple[str, FakeSlack]) -> None:
    url, _ = server

    async def post(body: bytes, headers: dict[str, str]) -> int:
        async with ClientSession() as session, session.post(f"{url}/slack/events", data=body, headers=headers) as r:
            return r.status

    as_json = {"Content-Type": "application/json"}
    unsigned = [
        (b"\xff\xfe{}", as_json),
        (b"{}", {"Content-Type": "application/json; charset=bogus"}),
        (b"{not json", as_json),
        (b"{}", as_json | {"X-Slack-Request-Timestamp": "abc", "X-Slack-Signature": "v0=00"}),
        # a fresh timestamp, so the signature is checked: on a body that is not UTF-8, and a non-ASCII one
        (b"\xff", as_json | {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"}),
        (b"{}", as_json | {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=\u00e9"}),
    ]
    assert [await post(body, headers) for body, headers in unsigned] == [401] * 6
    # signed, so from Slack (or its secret's holder), yet not a body bolt can read: a clear 400, never a 500
    for body, content_type in [
        ("{not json", "application/json"),
        ("payload=%7Bnot", "application/x-www-form-urlencoded"),
    ]:
        assert await post(body.encode(), {"Content-Type": content_type} | signed(body)) == 400


def test_a_half_slack_configuration_is_one_line() -> None:
    with pytest.raises(SettingsError, match=r"^SLACK_SIGNING_SECRET: required with SLACK_BOT_TOKEN"):
        slack_status(Settings(slack_bot_token=SecretStr(TOKEN)))
    with pytest.raises(SettingsError, match=r"^SLACK_BOT_TOKEN: required with SLACK_SIGNING_SECRET"):
        slack_status(Settings(slack_signing_secret=SecretStr(SECRET)))
    assert slack_status(Settings()) is None


# --- conversations ------------------------------------------------------------------------------------------


async def test_a_mention_is_answered_in_its_thread_with_blocks_and_sources(server: tuple[str, FakeSlack]) -> None:
    url, fake = server
    channel, ts = channel_id(), new_ts()
    event = {"type": "app_mention", "channel": channel, "user": "U1", "text": f"<@{BOT_USER}> {QUESTION}", "ts": ts}
    started = time.monotonic()
    status, _ = await send(url, event_body(event, "EvMention1"))
    assert status == 200
    assert time.monotonic() - started < 3, "acknowledged before the answer"
    await fake.wait_for(lambda f: bool(final_updates(f, channel)))
    [post] = posts(fake, channel)
    assert post["thread_ts"] == ts, "the answer goes in the thread of the message"
    final = final_updates(fake, channel)[-1]
    rendered = blocks_text(final["blocks"])
    assert "30 days" in final["text"]
    assert "https://help.brightcart.example/returns/policy" in rendered
    assert "sb_feedback:up" in rendered
    assert "start_return" in rendered


async def test_a_mention_in_spanish_is_told_we_search_and_handed_over_in_spanish(server: tuple[str, FakeSlack]) -> None:
    url, fake = server
    channel, ts = channel_id(), new_ts()
    text = f"<@{BOT_USER}> hola, quiero hablar con una persona de su equipo por favor"
    await send(
        url, event_body({"type": "app_mention", "channel": channel, "user": "U7", "text": text, "ts": ts}, "EvEs1")
    )
    await fake.wait_for(lambda f: bool(final_updates(f, channel)))
    [post] = posts(fake, channel)
    assert post["text"] == reply_text("searching", "es") + "…", "the placeholder while it works"
    final = final_updates(fake, channel)[-1]
    assert final["text"].startswith(reply_text("handoff", "es"))
    assert reply_text("talk_to_human", "es") in blocks_text(final["blocks"])


async def test_a_direct_message_is_answered(server: tuple[str, FakeSlack]) -> None:
    url, fake = server
    channel = "D" + uuid.uuid4().hex[:8].upper()
    event = {
        "type": "message",
        "channel": channel,
        "channel_type": "im",
        "user": "U2",
        "text": QUESTION,
        "ts": new_ts(),
    }
    await send(url, event_body(event, "EvDm1"))
    await fake.wait_for(lambda f: bool(final_updates(f, channel)))
    assert "30 days" in final_updates(fake, channel)[-1]["text"]


async def test_thread_follow_ups_need_no_mention_once_the_bot_answered_there(server: tuple[str, FakeSlack]) -> None:
    url, fake = server
    channel, root = channel_id(), new_ts()
    mention = {"type": "app_mention", "channel": channel, "user": "U3", "text": f"<@{BOT_USER}> {QUESTION}", "ts": root}
    await send(url, event_body(mention, "EvThread1"))
    await fake.wait_for(lambda f: len(final_updates(f, channel)) == 1)

    def in_thread(text: str) -> dict[str, Any]:
        return {
            "type": "message",
            "channel": channel,
            "channel_type": "channel",
            "user": "U3",
            "text": text,
            "ts": new_ts(),
            "thread_ts": root,
        }

    await send(url, event_body(in_thread("<@U999> can you check this?"), "EvThread2"))  # for someone else
    await send(url, event_body(in_thread("how much does express shipping cost?"), "EvThread3"))
    await fake.wait_for(lambda f: len(final_updates(f, channel)) == 2)
    assert "$" in final_updates(fake, channel)[-1]["text"]
    await asyncio.sleep(0.5)
    assert len(posts(fake, channel)) == 2, "the message for someone else got no answer"

    other = channel_id()
    unanswered = {
        "type": "message",
        "channel": other,
        "channel_type": "channel",
        "user": "U3",
        "text": QUESTION,
        "ts": new_ts(),
        "thread_ts": new_ts(),
    }
    await send(url, event_body(unanswered, "EvThread4"))
    await asyncio.sleep(0.5)
    assert posts(fake, other) == [], "a thread the bot never answered in needs a mention"


async def test_a_thread_handed_over_to_a_person_is_left_to_people_unless_the_bot_is_mentioned(
    server: tuple[str, FakeSlack],
) -> None:
    # an agent's reply there ("Hi, this is Tom from support…") was answered by the bot, and opened a hand-over
    # in the agent's name
    url, fake = server
    channel, root = channel_id(), new_ts()
    ask = f"<@{BOT_USER}> I want to talk to a person please"
    await send(
        url, event_body({"type": "app_mention", "channel": channel, "user": "U7", "text": ask, "ts": root}, "EvH1")
    )
    await fake.wait_for(lambda f: len(final_updates(f, channel)) == 1)

    def in_thread(user: str, text: str) -> dict[str, Any]:
        return {
            "type": "message",
            "channel": channel,
            "channel_type": "channel",
            "user": user,
            "text": text,
            "ts": new_ts(),
            "thread_ts": root,
        }

    await send(
        url, event_body(in_thread("UAGENT1", "Hi, this is Tom from support, what is your order number?"), "EvH2")
    )
    await send(url, event_body(in_thread("U7", "it's 12345, thanks Tom"), "EvH3"))
    await asyncio.sleep(1.0)
    assert len(posts(fake, channel)) == 1, "the bot stayed out of the people's conversation"
    mention = in_thread("U7", f"<@{BOT_USER}> {QUESTION}") | {"type": "app_mention"}
    await send(url, event_body(mention, "EvH4"))
    await fake.wait_for(lambda f: len(final_updates(f, channel)) == 2)
    assert "30 days" in final_updates(fake, channel)[-1]["text"], "a mention is still answered"
    await send(url, event_body(in_thread("UAGENT1", "anything else I can help with?"), "EvH5"))
    await asyncio.sleep(1.0)
    assert len(posts(fake, channel)) == 2, "answering a mention does not hand the thread back to the bot"


@pytest.mark.parametrize(
    "event",
    [
        {"subtype": "bot_message", "bot_id": "BOTHER", "text": QUESTION},
        {"bot_id": "BOTHER", "user": "UOTHERBOT", "text": QUESTION},
        {"user": BOT_USER, "bot_id": BOT_ID, "text": QUESTION},
        {"subtype": "message_changed", "message": {"text": QUESTION}},
        {"subtype": "message_deleted"},
    ],
    ids=["bot-message", "another-bot", "itself", "edit", "deletion"],
)
async def test_bots_itself_edits_and_deletions_get_no_answer(
    server: tuple[str, FakeSlack], event: dict[str, Any]
) -> None:
    url, fake = server
    channel = "D" + uuid.uuid4().hex[:8].upper()
    full = {"type": "message", "channel": channel, "channel_type": "im", "ts": new_ts(), "user": "U4"} | event
    if "user" not in event and event.get("subtype") in ("bot_message", "message_changed", "message_deleted"):
        full.pop("user")
    status, _ = await send(url, event_body(full, f"Ev{uuid.uuid4().hex[:8]}"))
    assert status == 200
    await asyncio.sleep(0.8)
    assert posts(fake, channel) == []


async def test_a_retry_storm_is_answered_exactly_once(server: tuple[str, FakeSlack]) -> None:
    url, fake = server
    channel, ts = "D" + uuid.uuid4().hex[:8].upper(), new_ts()
    text = f"<@{BOT_USER}> {QUESTION}"
    mention = event_body({"type": "app_mention", "channel": channel, "user": "U5", "text": text, "ts": ts}, "EvStorm1")
    as_message = event_body(
        {"type": "message", "channel": channel, "channel_type": "im", "user": "U5", "text": text, "ts": ts}, "EvStorm2"
    )
    deliveries = [mention] * 4 + [as_message]
    results = await asyncio.gather(
        *(send(url, body, signed(body) | {"X-Slack-Retry-Num": str(n)}) for n, body in enumerate(deliveries))
    )
    assert [status for status, _ in results] == [200] * 5
    await fake.wait_for(lambda f: bool(final_updates(f, channel)))
    await asyncio.sleep(1.0)
    assert len(posts(fake, channel)) == 1
    await send(url, mention, signed(mention) | {"X-Slack-Retry-Num": "5"})  # a late retry, after the answer
    await asyncio.sleep(0.8)
    assert len(posts(fake, channel)) == 1


async def test_an_answer_outlasts_a_slack_outage_longer_than_the_clients_retries(
    server: tuple[str, FakeSlack],
) -> None:
    url, fake = server
    fake.failures["chat.update"] = [500] * 6  # the client retries 3 times per call; the channel tries again
    channel = "D" + uuid.uuid4().hex[:8].upper()
    await send(url, event_body(dm(channel, "U10", QUESTION), "EvOutage1"))
    await fake.wait_for(lambda f: bool(final_updates(f, channel)), within_s=60)
    assert [c.method for c in fake.calls].count("chat.update!500") == 6
    assert "30 days" in final_updates(fake, channel)[-1]["text"]


async def test_blocks_slack_refuses_are_replaced_by_the_replys_text_not_a_status_line(
    server: tuple[str, FakeSlack],
) -> None:
    url, fake = server
    fake.refuse_blocks.add("chat.update")
    try:
        channel = "D" + uuid.uuid4().hex[:8].upper()
        await send(url, event_body(dm(channel, "U15", QUESTION), "EvBlocks1"))
        await fake.wait_for(lambda f: bool(answers_in(f, channel)), within_s=30)
    finally:
        fake.refuse_blocks.discard("chat.update")
    updated = answers_in(fake, channel)
    assert "blocks" not in updated[-1]
    refused = [c for c in fake.calls if c.method == "chat.update!invalid_blocks" and c.args.get("channel") == channel]
    assert len(refused) == 1  # no retry mends refused blocks: the text goes at once
    assert edited_messages(fake, channel) == 1  # the status line became the answer
    assert len(posts(fake, channel)) == 1


async def test_a_reply_slack_kept_refusing_is_resent_by_the_next_delivery_without_answering_twice(
    slack: tuple[FakeSlack, str], settings: Settings, file_config: FileConfig, redis_client: Redis
) -> None:
    fake, api_url = slack
    quick = file_config.slack.model_copy(update={"job_reclaim_s": 5, "delivery_backoff_s": 0.05})
    config = own_prefix(file_config, "resume").model_copy(update={"slack": quick})
    test_server = await start_ready(create_app(with_slack(settings, api_url), config))
    channel = "D" + uuid.uuid4().hex[:8].upper()
    fake.failures["chat.update"] = [200] * 5  # `ok: false` five times: every attempt of the first delivery
    try:
        await send(str(test_server.make_url("")), event_body(dm(channel, "U16", QUESTION), "EvResume1"))
        await fake.wait_for(lambda f: bool(final_updates(f, channel)), within_s=40)
    finally:
        fake.failures.pop("chat.update", None)
        await test_server.close()
    assert [c.method for c in fake.calls].count("chat.update!200") == 5
    assert len(posts(fake, channel)) == 1  # the next delivery edited the same status line
    assert edited_messages(fake, channel) == 1
    assert "30 days" in final_updates(fake, channel)[-1]["text"]
    history = [k async for k in redis_client.scan_iter(match=f"{config.memory.prefix}:*{channel}*:history")]
    assert len(history) == 1
    assert await redis_client.llen(history[0]) == 2  # the question and its answer, once: not asked again


async def test_a_stream_slack_would_not_end_is_ended_and_replaced_by_the_next_delivery(
    slack: tuple[FakeSlack, str], settings: Settings, file_config: FileConfig
) -> None:
    fake, api_url = slack
    update = {"job_reclaim_s": 5, "delivery_backoff_s": 0.05, "streaming": True, "update_interval_s": 0.2}
    slack_config = file_config.slack.model_copy(update=update)
    config = own_prefix(file_config, "resume-stream").model_copy(update={"slack": slack_config})
    test_server = await start_ready(create_app(with_slack(settings, api_url), config))
    channel = "D" + uuid.uuid4().hex[:8].upper()
    fake.failures["chat.stopStream"] = [200] * 5  # every attempt of the first delivery (a reviewer's case)
    try:
        body = event_body(dm(channel, "U17", "can i talk to a human please"), "EvRS1")
        await send(str(test_server.make_url("")), body)
        await fake.wait_for(lambda f: bool(final_updates(f, channel)), within_s=40)
    finally:
        fake.failures.pop("chat.stopStream", None)
        await test_server.close()
    mine = [c for c in fake.calls if c.args.get("channel") == channel]
    assert [c.method for c in mine].count("chat.startStream") == 1  # the next delivery ended the same stream
    assert [c.method for c in mine].count("chat.stopStream!200") == 5
    appended = "".join(c.args["markdown_text"] for c in mine if c.method == "chat.appendStream")
    assert appended.strip() == escape(reply_text("handoff", "en"))  # not appended twice
    assert final_updates(fake, channel)[-1]["text"] == escape(reply_text("handoff", "en"))


async def test_a_rate_limit_and_a_server_error_from_slack_are_retried(server: tuple[str, FakeSlack]) -> None:
    url, fake = server
    fake.failures["chat.postMessage"] = [429]
    fake.failures["chat.update"] = [503]
    channel = "D" + uuid.uuid4().hex[:8].upper()
    event = {
        "type": "message",
        "channel": channel,
        "channel_type": "im",
        "user": "U6",
        "text": QUESTION,
        "ts": new_ts(),
    }
    await send(url, event_body(event, "EvRetry1"))
    await fake.wait_for(lambda f: bool(final_updates(f, channel)), within_s=40)
    methods = [c.method for c in fake.calls]
    assert "chat.postMessage!429" in methods
    assert "chat.update!503" in methods
    assert "30 days" in final_updates(fake, channel)[-1]["text"]


# --- clicks and commands ------------------------------------------------------------------------------------


async def test_a_feedback_click_is_recorded_once_and_replaces_the_buttons(
    server: tuple[str, FakeSlack], redis_url: str, file_config: FileConfig
) -> None:
    url, fake = server
    channel = "D" + uuid.uuid4().hex[:8].upper()
    event = {
        "type": "message",
        "channel": channel,
        "channel_type": "im",
        "user": "U7",
        "text": QUESTION,
        "ts": new_ts(),
    }
    await send(url, event_body(event, "EvFeedback1"))
    await fake.wait_for(lambda f: bool(final_updates(f, channel)))
    final = final_updates(fake, channel)[-1]
    blocks = final["blocks"] if isinstance(final["blocks"], list) else json.loads(final["blocks"])
    [up] = [
        e for b in blocks if b.get("block_id") == "sb_feedback" for e in b["elements"] if e["action_id"].endswith("up")
    ]
    message_id = json.loads(up["value"])["m"]
    message = {"ts": final["ts"], "text": final["text"], "blocks": blocks}
    body = click_body(channel, "U7", "sb_feedback", up, message)
    updates_before = len(fake.of("chat.update"))
    assert (await send(url, body, form=True))[0] == 200
    await fake.wait_for(lambda f: len(f.of("chat.update")) > updates_before)
    assert "Thanks for your feedback" in json.dumps(fake.of("chat.update")[-1].args)
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    stored = await RedisFeedbackStore(client, prefix=file_config.memory.prefix).get("U7", message_id)
    await client.aclose()
    assert stored is not None
    assert stored["vote"] == "up"
    again = len(fake.of("chat.update"))
    assert (await send(url, body, form=True))[0] == 200  # a second click of the same button
    await asyncio.sleep(0.8)
    assert len(fake.of("chat.update")) == again, "a second vote changes nothing"


async def test_escalate_command_acks_at_once_and_records_the_hand_over(
    server: tuple[str, FakeSlack], redis_url: str, file_config: FileConfig
) -> None:
    url, _ = server
    channel = channel_id()
    form = {
        "token": "x",
        "team_id": TEAM,
        "channel_id": channel,
        "user_id": "U8",
        "command": "/escalate",
        "text": "my refund never arrived, mail me at jo.doe@gmail.com",
        "response_url": "http://127.0.0.1:9/respond/1",
        "trigger_id": "t-escalate-1",
    }
    body = urlencode(form)
    status, text = await send(url, body, form=True)
    assert status == 200
    assert "support team" in text
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    store = RedisEscalationStore(client, prefix=file_config.memory.prefix)
    for _ in range(50):
        records = [r for r in await store.list("open", limit=500) if r.user_id == "U8"]
        if records:
            break
        await asyncio.sleep(0.1)
    await client.aclose()
    assert [(r.reason, r.question, r.channel) for r in records] == [
        ("slash_command", "my refund never arrived, mail me at <EMAIL_1>", "slack")  # stored redacted
    ]


# --- the agents' channel ------------------------------------------------------------------------------------


def agent_posts(fake: FakeSlack, marker: str) -> list[dict[str, Any]]:
    return [c.args for c in fake.of("chat.postMessage") if c.args.get("channel") == AGENTS and marker in str(c.args)]


def agent_click(post: dict[str, Any], ts: str, agent: str, action_id: str) -> str:
    blocks = post["blocks"] if isinstance(post["blocks"], list) else json.loads(post["blocks"])
    [button] = [e for b in blocks if b.get("block_id") == "sb_agent" for e in b["elements"]]
    assert button["action_id"] == action_id
    return click_body(AGENTS, agent, "sb_agent", button, {"ts": ts, "text": post["text"], "blocks": blocks})


async def test_hand_overs_from_slack_and_rest_reach_the_agents_channel_once_and_are_claimed(
    server: tuple[str, FakeSlack], redis_url: str, file_config: FileConfig
) -> None:
    url, fake = server
    marker = uuid.uuid4().hex[:8]
    channel = "D" + uuid.uuid4().hex[:8].upper()
    await send(url, event_body(dm(channel, "U9", f"can I talk to a real person please ({marker})"), "EvHuman1"))
    async with ClientSession() as session:
        payload = {"user_id": "rest-agent-test", "text": f"I want to speak to an agent ({marker})"}
        async with session.post(f"{url}/api/messages", json=payload) as response:
            assert (await response.json())["metadata"]["escalated"] is True
    await fake.wait_for(lambda f: len(agent_posts(f, marker)) == 2)
    await asyncio.sleep(1.0)
    assert len(agent_posts(fake, marker)) == 2, "each hand-over is posted once"
    slack_post = next(p for p in agent_posts(fake, marker) if "U9" in str(p))
    assert "Talk to a human" not in str(slack_post["blocks"]), "agents see Claim, not the customer's buttons"
    assert "*Language:* en" in str(slack_post["blocks"]), "the language to answer in"
    assert "rest" in str(next(p for p in agent_posts(fake, marker) if "rest-agent-test" in str(p))["blocks"])

    ts = "1700999000.000100"
    updates = len(fake.of("chat.update"))
    await send(url, agent_click(slack_post, ts, "UAGENT1", "sb_agent:claim"), form=True)
    await fake.wait_for(lambda f: len(f.of("chat.update")) > updates)
    claimed = fake.of("chat.update")[-1].args
    assert "Claimed by <@UAGENT1>" in json.dumps(claimed["blocks"])
    await send(url, agent_click(slack_post, ts, "UAGENT2", "sb_agent:claim"), form=True)  # too late
    await fake.wait_for(lambda f: any(c.args.get("user") == "UAGENT2" for c in f.of("chat.postEphemeral")))
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    store = RedisEscalationStore(client, prefix=file_config.memory.prefix)
    [record] = [r for r in await store.list("claimed", limit=1000) if r.user_id == "U9"]
    await client.aclose()
    assert record.claimed_by == "UAGENT1"


async def test_support_answers_privately_through_the_response_url_and_shares_on_request(
    server: tuple[str, FakeSlack], slack: tuple[FakeSlack, str]
) -> None:
    url, fake = server
    response_url = slack[1].replace("/api/", "/respond/support-1")
    channel = channel_id()
    form = {
        "team_id": TEAM,
        "channel_id": channel,
        "user_id": "U11",
        "command": "/support",
        "text": QUESTION,
        "response_url": response_url,
        "trigger_id": "t-support-1",
    }
    status, text = await send(url, urlencode(form), form=True)
    assert status == 200
    assert text == reply_text("searching", "en") + "…"
    await fake.wait_for(lambda f: bool(f.of("response_url")))
    private = fake.of("response_url")[-1].args
    assert private["response_type"] == "ephemeral"
    assert "30 days" in private["text"]
    assert posts(fake, channel) == [], "nothing was posted in the channel"
    [share] = [e for b in private["blocks"] if b.get("block_id") == "sb_share" for e in b["elements"]]
    assert (await send(url, click_body(channel, "U11", "sb_share", share, response_url=response_url), form=True))[
        0
    ] == 200
    await fake.wait_for(lambda f: bool(posts(f, channel)))
    [shared] = posts(fake, channel)
    assert "<@U11> asked" in shared["text"]
    assert "30 days" in shared["text"]


async def test_support_without_a_question_says_how_to_ask(server: tuple[str, FakeSlack]) -> None:
    url, _ = server
    form = {
        "team_id": TEAM,
        "channel_id": channel_id(),
        "user_id": "U12",
        "command": "/support",
        "text": " ",
        "response_url": "http://127.0.0.1:9/respond/x",
        "trigger_id": "t-support-2",
    }
    status, text = await send(url, urlencode(form), form=True)
    assert status == 200
    assert "/support how do I return an item?" in text


async def test_a_retry_after_a_restart_is_not_answered_again(
    server: tuple[str, FakeSlack], slack: tuple[FakeSlack, str], settings: Settings, file_config: FileConfig
) -> None:
    url, fake = server
    channel = "D" + uuid.uuid4().hex[:8].upper()
    body = event_body(dm(channel, "U13", QUESTION), "EvRestart1")
    await send(url, body)
    await fake.wait_for(lambda f: bool(final_updates(f, channel)))
    # a second server process on the same Redis (the first one restarted) gets Slack's retry
    restarted = await start_ready(create_app(with_slack(settings, slack[1]), file_config))
    try:
        second = str(restarted.make_url(""))
        status, _ = await send(second, body, signed(body) | {"X-Slack-Retry-Num": "1"})
        assert status == 200
        await asyncio.sleep(1.0)
    finally:
        await restarted.close()
    assert len(posts(fake, channel)) == 1


async def test_streaming_mode_uses_slacks_stream_methods_and_ends_with_the_blocks(
    slack: tuple[FakeSlack, str], settings: Settings, file_config: FileConfig
) -> None:
    fake, api_url = slack
    streaming = file_config.slack.model_copy(update={"streaming": True, "update_interval_s": 0.2})
    config = own_prefix(file_config, "streaming").model_copy(update={"slack": streaming})
    app = create_app(with_slack(settings, api_url), config)
    test_server = await start_ready(app)
    try:
        url = str(test_server.make_url(""))
        channel, handed = ("D" + uuid.uuid4().hex[:8].upper() for _ in range(2))
        await send(url, event_body(dm(channel, "U14", QUESTION), "EvStream1"))
        await send(url, event_body(dm(handed, "U14", "can i talk to a human please"), "EvStream2"))
        for each in (channel, handed):
            await fake.wait_for(partial(stopped_in, channel=each))
    finally:
        await test_server.close()
    # a reply that streamed no tokens (a hand-over) is still the stream's text, not an empty message
    appended = [c.args["markdown_text"] for c in fake.of("chat.appendStream") if c.args.get("channel") == handed]
    assert "".join(appended).strip() == escape(reply_text("handoff", "en"))
    mine = [c for c in fake.calls if c.args.get("channel") == channel or c.args.get("channel_id") == channel]
    methods = [c.method for c in mine]
    assert methods[0] == "assistant.threads.setStatus"
    assert methods[1] == "chat.startStream"
    assert "chat.appendStream" in methods
    assert methods[-1] == "chat.stopStream"
    streamed = "".join(c.args["markdown_text"] for c in mine if c.method == "chat.appendStream")
    assert "30 days" in streamed
    stop = next(c.args for c in mine if c.method == "chat.stopStream")
    assert "returns/policy" in blocks_text(stop["blocks"])
    assert not posts(fake, channel), "no separate message was posted"


async def test_an_answer_button_is_an_action_event_answered_in_the_same_thread(server: tuple[str, FakeSlack]) -> None:
    url, fake = server
    channel = "D" + uuid.uuid4().hex[:8].upper()
    question = dm(channel, "U15", QUESTION)
    await send(url, event_body(question, "EvClick1"))
    await fake.wait_for(lambda f: bool(final_updates(f, channel)))
    final = final_updates(fake, channel)[-1]
    blocks = final["blocks"] if isinstance(final["blocks"], list) else json.loads(final["blocks"])
    actions = next(b for b in blocks if b.get("block_id") == "sb_actions")
    [start] = [e for e in actions["elements"] if e["action_id"] == "sb_action:start_return"]
    message = {"ts": final["ts"], "thread_ts": question["ts"], "text": final["text"], "blocks": blocks}
    clicked_at = {"text": start["text"], "action_ts": "1700999999.000001"}
    body = click_body(channel, "U15", "sb_actions", start, message, action=clicked_at)
    assert (await send(url, body, form=True))[0] == 200
    assert (await send(url, body, form=True))[0] == 200  # Slack delivered the click twice
    await fake.wait_for(lambda f: len(final_updates(f, channel)) >= 2)
    await asyncio.sleep(0.8)
    [_, answer_post] = posts(fake, channel)
    assert answer_post["thread_ts"] == question["ts"], "answered in the thread the button was in"
    clicked = final_updates(fake, channel)[-1]
    assert "https://help.brightcart.example/returns/start" in blocks_text(clicked["blocks"])
    assert len(final_updates(fake, channel)) == 2, "the duplicate click was not answered again"
