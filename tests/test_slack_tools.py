"""Tools through Slack: a refund proposed in a DM, approved with its Block Kit button by its own user only,
and an order notice posted into the thread the customer last wrote in."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientSession
from pydantic import SecretStr

from bot.app import create_app
from bot.settings import FileConfig, Settings
from engine.signing import signed_headers
from tests.conftest import own_prefix, start_ready
from tests.order_fake import OrderFake, running
from tests.slack_fake import BOT_USER, TEAM, FakeSlack, click_body, event_body
from tests.slack_fake import start_fake as _start_fake
from tests.test_slack import channel_id, dm, final_updates, new_ts, posts, send, with_slack

WEBHOOK_SECRET = "slack-webhook-secret-0123456"


@pytest.fixture(scope="module")
async def slack_shop(settings: Settings, file_config: FileConfig) -> AsyncIterator[tuple[str, FakeSlack, OrderFake]]:
    orders = OrderFake(token=None)
    orders.orders["BC-10009"]["customer"] = "U16"
    orders.orders["BC-10010"]["customer"] = "U21"
    async for fake, api_url in _start_fake():
        async with running(orders) as orders_url:
            config = own_prefix(file_config, "slack-tools")
            config = config.model_copy(
                update={
                    "orders": config.orders.model_copy(update={"base_url": orders_url, "allow_private": True}),
                    "slack": config.slack.model_copy(update={"update_interval_s": 0.2, "delivery_backoff_s": 0.2}),
                }
            )
            secured = with_slack(settings, api_url).model_copy(update={"webhook_secret": SecretStr(WEBHOOK_SECRET)})
            server = await start_ready(create_app(secured, config))
            yield str(server.make_url("")).rstrip("/"), fake, orders
            await server.close()


async def order_event(url: str, kind: str, order: str, customer: str) -> str:
    """A signed order webhook; the status it was answered with."""
    event = {"event_id": f"evt-{time.time_ns()}", "type": kind, "order_id": order, "customer_id": customer}
    raw = json.dumps(event).encode()
    headers = {"Content-Type": "application/json"} | signed_headers(WEBHOOK_SECRET, raw)
    async with ClientSession() as http, http.post(f"{url}/webhooks/orders", data=raw, headers=headers) as response:
        assert response.status == 200
        return str((await response.json())["status"])


def buttons(update: dict[str, Any]) -> dict[str, dict[str, Any]]:
    blocks = update["blocks"] if isinstance(update["blocks"], list) else json.loads(update["blocks"])
    actions = next(b for b in blocks if b.get("block_id") == "sb_actions")
    return {e["action_id"]: e for e in actions["elements"]}


async def test_a_refund_is_approved_in_slack_by_its_own_user_once(
    slack_shop: tuple[str, FakeSlack, OrderFake],
) -> None:
    url, fake, orders = slack_shop
    channel = "D" + uuid.uuid4().hex[:8].upper()
    question = dm(channel, "U16", "i want a refund for order BC-10009 please")
    await send(url, event_body(question, f"Ev{uuid.uuid4().hex[:8]}"))
    await fake.wait_for(lambda f: bool(final_updates(f, channel)))
    proposal = final_updates(fake, channel)[-1]
    assert "I can refund order BC-10009" in proposal["text"]
    approve = buttons(proposal)["sb_action:approve"]
    message = {
        "ts": proposal["ts"],
        "thread_ts": question["ts"],
        "text": proposal["text"],
        "blocks": proposal["blocks"],
    }

    for user, stamp in (("U17", "1700000001.000001"), ("U16", "1700000002.000002"), ("U16", "1700000003.000003")):
        body = click_body(
            channel, user, "sb_actions", approve, message, action={"text": approve["text"], "action_ts": stamp}
        )
        shown = len(final_updates(fake, channel))
        assert (await send(url, body, form=True))[0] == 200

        def answered(f: FakeSlack, shown: int = shown) -> bool:
            return len(final_updates(f, channel)) > shown

        await fake.wait_for(answered)
    said = [u["text"] for u in final_updates(fake, channel)[-3:]]
    assert "Only the person who asked" in said[0]
    assert said[1].startswith("Done: order BC-10009 is refunded.")
    assert "already answered" in said[2]
    assert orders.refunds_made == 1
    assert all(p.get("thread_ts") == question["ts"] for p in posts(fake, channel))


async def test_an_order_notice_is_posted_in_the_customers_last_slack_thread(
    slack_shop: tuple[str, FakeSlack, OrderFake],
) -> None:
    url, fake, _ = slack_shop
    channel = "D" + uuid.uuid4().hex[:8].upper()
    question = dm(channel, "U18", "hello there")
    await send(url, event_body(question, f"Ev{uuid.uuid4().hex[:8]}"))
    await fake.wait_for(lambda f: bool(final_updates(f, channel)))
    assert await order_event(url, "delivered", "BC-10077", "U18") == "delivered"
    notice = posts(fake, channel)[-1]
    assert notice["thread_ts"] == question["ts"]
    assert notice["text"] == "Your order BC-10077 has been delivered."
    assert {"sb_action:track_order", "sb_action:refund_order"} <= set(buttons(notice))


async def test_a_notice_never_goes_to_a_shared_channel_but_to_a_direct_message(
    slack_shop: tuple[str, FakeSlack, OrderFake],
) -> None:
    url, fake, _ = slack_shop
    channel = channel_id()
    mention = {"type": "app_mention", "channel": channel, "user": "U20", "text": f"<@{BOT_USER}> hi", "ts": new_ts()}
    await send(url, event_body(mention, f"Ev{uuid.uuid4().hex[:8]}"))
    await fake.wait_for(lambda f: bool(final_updates(f, channel)))
    assert await order_event(url, "shipped", "BC-10078", "U20") == "delivered"
    assert [p for p in posts(fake, channel) if "BC-10078" in p.get("text", "")] == []
    [opened] = [c.args for c in fake.of("conversations.open")]
    assert opened["users"] == "U20"
    notice = posts(fake, "DU20")[-1]
    assert notice["text"] == "Good news: your order BC-10078 has shipped."
    assert not notice.get("thread_ts")


async def test_a_refund_asked_with_support_stays_private_through_its_approval(
    slack_shop: tuple[str, FakeSlack, OrderFake],
) -> None:
    url, fake, orders = slack_shop
    channel = channel_id()
    response_url = fake.api_url.replace("/api/", "/respond/refund-1")
    form = {
        "team_id": TEAM,
        "channel_id": channel,
        "user_id": "U21",
        "command": "/support",
        "text": "can you refund order BC-10010 please",
        "response_url": response_url,
        "trigger_id": "t-refund-1",
    }
    assert (await send(url, urlencode(form), form=True))[0] == 200
    await fake.wait_for(lambda f: bool(f.of("response_url")))
    proposal = fake.of("response_url")[-1].args
    assert "I can refund order BC-10010" in proposal["text"]
    approve = buttons(proposal)["sb_action:approve"]
    clicked = {"text": approve["text"], "action_ts": "1700000009.000009"}
    body = click_body(channel, "U21", "sb_actions", approve, None, action=clicked, response_url=response_url)
    assert (await send(url, body, form=True))[0] == 200
    await fake.wait_for(lambda f: len(f.of("response_url")) >= 2)
    done = fake.of("response_url")[-1].args
    assert done["response_type"] == "ephemeral"
    assert done["text"].startswith("Done: order BC-10010 is refunded.")
    assert orders.refunds_made >= 1
    assert posts(fake, channel) == []  # nothing about the order was posted in the channel
