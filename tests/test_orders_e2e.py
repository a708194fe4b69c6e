"""The demo order system end to end through the server, as a new user meets it: track an order, request
a refund and approve it over REST, signed order webhooks that tell the customer, the audit log, erasure,
and tools declared in the YAML."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from redis.asyncio import Redis

from bot.app import create_app
from bot.settings import ApiToolSettings, FileConfig, Settings, SettingsError
from bot.tools import build_tools
from engine.dates import spoken_date
from engine.signing import NOTICE, SIGNATURE_HEADER, TIMESTAMP_HEADER, signed_headers, verify
from engine.tools import Failure, Tool, ToolCall, ToolError, render
from memory.actions import RedisAuditLog
from memory.privacy import UserData
from tests.conftest import own_prefix, start_ready
from tests.order_fake import TOKEN, OrderFake, running

WEBHOOK_SECRET = "webhook-secret-for-tests-0123"


@dataclass
class Callbacks:
    """The REST back end's notice endpoint: it keeps what arrives and whether the signature held."""

    received: list[dict[str, Any]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        if b"slow" in raw:  # a back end that takes its time: a retry arrives while this one is delivered
            await asyncio.sleep(0.5)
        stamp, signature = request.headers[TIMESTAMP_HEADER], request.headers[SIGNATURE_HEADER]
        why = verify(WEBHOOK_SECRET, stamp, signature, raw, context=NOTICE)
        # a notice must never verify as an order webhook (one secret, two directions)
        crossed = verify(WEBHOOK_SECRET, stamp, signature, raw) is None
        self.received.append({"signed": why is None and not crossed, **json.loads(raw)})
        return web.json_response({"ok": True})


@dataclass
class Shop:
    url: str
    callbacks: Callbacks
    config: FileConfig


@pytest.fixture(scope="module")
async def shop(settings: Settings, file_config: FileConfig) -> AsyncIterator[Shop]:
    callbacks = Callbacks()
    app = web.Application()
    app.router.add_post("/notices", callbacks.handle)
    receiver = TestServer(app, host="127.0.0.1")
    await receiver.start_server()
    config = own_prefix(file_config, "shop")
    notices = config.notices.model_copy(
        update={"callback_url": str(receiver.make_url("/notices")), "callback_allow_private": True}
    )
    config = config.model_copy(update={"notices": notices})
    secured = settings.model_copy(update={"webhook_secret": SecretStr(WEBHOOK_SECRET)})
    server = await start_ready(create_app(secured, config))
    yield Shop(str(server.make_url("")).rstrip("/"), callbacks, config)
    await server.close()
    await receiver.close()


async def post(url: str, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with ClientSession() as http, http.post(f"{url}{path}", json=body) as response:
        return response.status, dict(await response.json())


async def message(shop: Shop, user: str, text: str, conversation: str = "web-1") -> dict[str, Any]:
    status, reply = await post(
        shop.url, "/api/messages", {"user_id": user, "text": text, "conversation_id": conversation}
    )
    assert status == 200, reply
    return reply


async def click(shop: Shop, user: str, action: dict[str, Any], conversation: str = "web-1") -> dict[str, Any]:
    body = {"user_id": user, "conversation_id": conversation, "action": action["action"], "value": action["value"]}
    status, reply = await post(shop.url, "/api/actions", body | {"label": action["label"]})
    assert status == 200, reply
    return reply


async def test_a_customer_tracks_an_order_by_its_bare_number(shop: Shop, redis_url: str) -> None:
    reply = await message(shop, "demo", "Where is my order 12345?")
    assert reply["response"].startswith("Order BC-12345 is on its way.")
    assert "Estimated delivery:" in reply["response"]
    assert reply["sources"] == ["https://track.brightcart.example/PW48213377"]
    assert reply["metadata"]["intent"] == "order_status"
    assert not reply["metadata"]["escalated"]
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    kept = await UserData(client, shop.config.memory.prefix).export("demo")
    await client.aclose()
    history = json.dumps(kept["records"])
    assert "12345" not in history
    assert "<ORDER_ID_" in history


async def test_a_refund_is_requested_approved_once_and_audited(shop: Shop, redis_url: str) -> None:
    asked = await message(shop, "demo", "hi, i want a refund for my headphones please", "refund-1")
    assert "I can refund order BC-12377" in asked["response"]
    approve = next(a for a in asked["actions"] if a["action"] == "approve")
    assert approve["label"] == "Approve"
    assert approve["value"]
    stranger = await click(shop, "alex", approve, "refund-1")
    assert "Only the person who asked" in stranger["response"]
    done = await click(shop, "demo", approve, "refund-1")
    assert done["response"].startswith("Done: order BC-12377 is refunded.")
    again = await click(shop, "demo", approve, "refund-1")
    assert "already answered" in again["response"]
    status = await message(shop, "demo", "what's the status of order BC-12377", "refund-1")
    assert status["response"].startswith("Order BC-12377 is refunded.")

    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    audit = RedisAuditLog(client, shop.config.memory.prefix)
    mine = [(e["outcome"], e["arguments"], e["detail"][:3]) for e in await audit.entries("demo")]
    assert mine[-3:] == [
        ("proposed", {"order_id": "BC-12377"}, ""),
        ("executed", {"order_id": "BC-12377"}, "RF-"),
        ("refused", {"order_id": "BC-12377"}, "rep"),
    ]
    assert [(e["outcome"], e["detail"]) for e in await audit.entries("alex")] == [("refused", "another_user")]
    # erasure keeps the business record, without the person
    report = await UserData(client, shop.config.memory.prefix).forget("alex")
    assert report["audit_entries_pseudonymised"] == 1
    assert await audit.entries("alex") == []
    everyone = await audit.entries()
    await client.aclose()
    assert not [e for e in everyone if "alex" in json.dumps(e)]
    assert [e["user"][:7] for e in everyone if e["detail"] == "another_user"] == ["erased-"]


async def test_a_bad_action_request_is_a_clear_400(shop: Shop) -> None:
    for body, code in (
        ({"user_id": "demo"}, "missing_field"),
        ({"user_id": "demo", "action": "Approve!"}, "invalid_field"),
        ({"user_id": "demo", "action": "approve", "value": 7}, "invalid_field"),
        ({"user_id": "demo", "action": "approve", "value": "x" * 2001}, "invalid_field"),
    ):
        status, reply = await post(shop.url, "/api/actions", body)
        assert (status, reply["error"]["code"]) == (400, code), body


async def webhook(shop: Shop, event: dict[str, Any], headers: dict[str, str] | None = None) -> tuple[int, Any]:
    raw = json.dumps(event).encode()
    sent = {"Content-Type": "application/json"} | (signed_headers(WEBHOOK_SECRET, raw) if headers is None else headers)
    async with ClientSession() as http, http.post(f"{shop.url}/webhooks/orders", data=raw, headers=sent) as response:
        return response.status, await response.json()


async def test_a_signed_delay_notice_reaches_the_customer_once_and_a_forged_one_nothing(shop: Shop) -> None:
    await message(shop, "demo", "hello", "where-demo-was")  # the last place the customer talked to us
    event = {
        "event_id": f"evt-{time.time_ns()}",
        "type": "delayed",
        "order_id": "BC-12345",
        "customer_id": "demo",
        "estimated_delivery": "2026-12-09",
    }
    raw = json.dumps(event).encode()
    forged = {TIMESTAMP_HEADER: str(int(time.time())), SIGNATURE_HEADER: "v1=" + "0" * 64}
    stale = signed_headers(WEBHOOK_SECRET, raw, now=time.time() - 600)
    for headers in (forged, stale, {}):
        status, body = await webhook(shop, event, headers)
        assert status == 401
        assert body["error"]["code"] == "bad_signature"
    assert not shop.callbacks.received

    status, body = await webhook(shop, event)
    assert (status, body["status"]) == (200, "delivered")
    status, body = await webhook(shop, event)  # the order system retried
    assert (status, body["status"]) == (200, "duplicate")
    [notice] = shop.callbacks.received
    assert notice["signed"]
    assert notice["user_id"] == "demo"
    assert notice["conversation_id"] == "where-demo-was"
    assert notice["reply"]["response"].splitlines() == [
        "Update on your order BC-12345: it is delayed, sorry.",
        "The new estimated delivery is Wed 09 Dec 2026.",
    ]
    offered = {a["label"]: a.get("value") for a in notice["reply"]["actions"]}
    assert offered == {"Track order": "BC-12345", "Request refund": "BC-12345"}

    # the notice's button acts on that order, in the conversation it went to
    track = next(a for a in notice["reply"]["actions"] if a["action"] == "track_order")
    tracked = await click(shop, "demo", track, "where-demo-was")
    assert tracked["response"].startswith("Order BC-12345 is on its way.")


async def test_retries_arriving_during_a_delivery_are_told_to_come_back_and_it_is_delivered_once(
    shop: Shop,
) -> None:
    await message(shop, "demo", "hello again", "where-demo-is-now")
    event = {"event_id": f"evt-slow-{time.time_ns()}", "type": "shipped", "order_id": "BC-12345", "customer_id": "demo"}
    first, second = await asyncio.gather(webhook(shop, event), webhook(shop, event))
    assert sorted(status for status, _ in (first, second)) == [200, 409]
    later = await webhook(shop, event)
    assert later == (200, {"status": "duplicate", "event_id": event["event_id"]})
    assert [n["notice_id"] for n in shop.callbacks.received].count(event["event_id"]) == 1


async def test_a_notice_for_someone_never_seen_is_logged_and_bad_events_are_400(shop: Shop) -> None:
    event = {"event_id": f"evt-{time.time_ns()}", "type": "delivered", "order_id": "BC-1", "customer_id": "ghost"}
    before = len(shop.callbacks.received)
    assert (await webhook(shop, event))[1]["status"] == "logged"
    assert len(shop.callbacks.received) == before
    for broken in (
        {**event, "type": "exploded"},
        {**event, "customer_id": ""},
        {**event, "estimated_delivery": "soon"},
    ):
        status, body = await webhook(shop, broken)
        assert (status, body["error"]["code"]) == (400, "invalid_event")


def declared(base: str, **changes: Any) -> ApiToolSettings:
    fields = {
        "status": "$.status",
        "eta": "$.estimated_delivery",
        "first_item": "$.items[0].name",
        "link": "$.tracking_url",
    }
    return ApiToolSettings.model_validate(
        {
            "type": "api",
            "url": f"{base}/orders/{{order_id}}?customer={{user_id}}",
            "auth": {"bearer_env": "SB_TEST_ORDERS_TOKEN"},
            "timeout_s": 2,
            "intents": ["order_status"],
            "fields": fields,
            "reply": ["{first_item}: {status}, expected {eta}.", "Never said: {missing}."],
            "allowed_hosts": ["127.0.0.1"],
            "allow_private": True,
            "link_field": "link",
        }
        | changes
    )


def only_declared(file_config: FileConfig, tool: ApiToolSettings) -> FileConfig:
    """The session's configuration with no order system and this one declared tool, named `lookup`."""
    off = file_config.orders.model_copy(update={"base_url": None})
    return file_config.model_copy(update={"orders": off, "tools": {"lookup": tool}})


@asynccontextmanager
async def declared_tool(file_config: FileConfig, fake: OrderFake, path: str = "") -> AsyncIterator[Tool]:
    """The one tool `declared(…)` builds (with another URL path when given), against `fake`, closed after."""
    async with running(fake) as url:
        changes = {"url": url + path} if path else {}
        kit = await build_tools(only_declared(file_config, declared(url, **changes)))
        try:
            [tool] = kit.tools.tools
            assert kit.tools.for_intent("order_status") is tool
            yield tool
        finally:
            await kit.close()


async def test_a_tool_declared_in_the_yaml_answers_from_its_mapped_fields(
    file_config: FileConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SB_TEST_ORDERS_TOKEN", TOKEN)
    fake = OrderFake()
    async with declared_tool(file_config, fake) as tool:
        assert tool.spec.parameters == ("order_id",)
        result = await tool.run(ToolCall.of("lookup", {"order_id": "BC-10001"}, "ana"), "key")
    assert result.fact("status") == "in_transit"
    assert result.fact("eta") == "2026-12-01"  # a date stays a date: the reply says it in its language
    assert render(("ETA {eta}",), dict(result.facts)) == "ETA Tue 01 Dec 2026"
    assert (
        render(("ETA {eta}",), dict(result.facts), "de") == "ETA " + spoken_date("2026-12-01", "de") != "ETA 2026-12-01"
    )
    assert result.fact("first_item") == "Trail shoes"
    assert result.link is not None
    assert result.link.url == "https://track.example/PW1"
    assert fake.requests == ["GET /orders/BC-10001?customer=ana"]


async def test_a_declared_tool_never_says_what_it_answered_about_another_customer(
    file_config: FileConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SB_TEST_ORDERS_TOKEN", TOKEN)
    fake = OrderFake()
    # a careless URL that does not name the customer: the answer's own `customer` still decides
    async with declared_tool(file_config, fake, "/orders/{order_id}") as tool:
        with pytest.raises(ToolError) as refused:
            await tool.run(ToolCall.of("lookup", {"order_id": "BC-10002"}, "ana"), "key")  # ben's
        assert refused.value.failure is Failure.NOT_FOUND
        with pytest.raises(ToolError):
            await tool.run(ToolCall.of("lookup", {"order_id": ".."}, "ana"), "key")
    assert fake.requests == ["GET /orders/BC-10002"]  # the dot-segment never left


async def test_a_wrong_tool_declaration_is_a_one_line_start_up_error(
    file_config: FileConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "SB_TEST_ORDERS_TOKEN: not set"),
        ({"allowed_hosts": ["orders.example.com"]}, "is not allowed"),
        ({"allow_private": False}, "private address"),
        ({"intents": ["no_such_intent"]}, "no intent named"),
        ({"fields": {"status": "status"}}, "must start with $"),
        ({"url": "http://127.0.0.1/orders/{customer_secret}"}, "not an entity or user_id"),
    ]
    for changes, expected in cases:
        if changes:
            monkeypatch.setenv("SB_TEST_ORDERS_TOKEN", TOKEN)
        with pytest.raises(SettingsError, match=re.escape(expected)):
            await build_tools(only_declared(file_config, declared("http://127.0.0.1:9", **changes)))
