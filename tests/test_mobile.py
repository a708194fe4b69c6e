"""The mobile channel through the real server: signed requests from an app's back end, idempotent retries,
replies kept for the app, and pushes through a fake FCM gateway that checks the payload, fails once and
reports a dead token."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from adapters.push import preview
from bot.app import create_app
from bot.settings import FcmConfig, FileConfig, MobileAppConfig, Settings, SettingsError
from engine.signing import signed_headers
from memory.feedback import RedisFeedbackStore
from tests.conftest import own_prefix, start_ready

SECRET = "mobile-app-secret-0123456789"
FCM_TOKEN = "fcm-access-token-for-tests"
ENV = {"SB_TEST_MOBILE_SECRET": SECRET, "SB_TEST_FCM_TOKEN": FCM_TOKEN}


@dataclass
class Fcm:
    """FCM HTTP v1, as far as a sender sees it."""

    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)

    async def send(self, request: web.Request) -> web.Response:
        assert request.match_info["project"] == "demo-project"
        if request.headers.get("Authorization") != f"Bearer {FCM_TOKEN}":
            return web.json_response({"error": {"code": 401, "status": "UNAUTHENTICATED"}}, status=401)
        message = (await request.json())["message"]
        token = message["token"]
        self.attempts[token] = self.attempts.get(token, 0) + 1
        if token.startswith("dead-"):
            body = {"error": {"code": 404, "status": "NOT_FOUND", "details": [{"errorCode": "UNREGISTERED"}]}}
            return web.json_response(body, status=404)
        if token.startswith("flaky-") and self.attempts[token] == 1:
            return web.json_response({"error": {"code": 503, "status": "UNAVAILABLE"}}, status=503)
        assert set(message["notification"]) == {"title", "body"}
        assert all(isinstance(v, str) for v in message["data"].values())  # FCM data values are strings
        self.received.append(message)
        return web.json_response({"name": f"projects/demo-project/messages/{len(self.received)}"})


@dataclass
class Phone:
    url: str
    fcm: Fcm
    config: FileConfig


@pytest.fixture(scope="module")
def mobile_env() -> Iterator[None]:
    before = {k: os.environ.get(k) for k in ENV}
    os.environ.update(ENV)
    yield
    for key, value in before.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
async def phone(settings: Settings, file_config: FileConfig, mobile_env: None) -> AsyncIterator[Phone]:
    fcm = Fcm()
    gateway = web.Application()
    gateway.router.add_post("/v1/projects/{project}/messages:send", fcm.send)
    fake = TestServer(gateway, host="127.0.0.1")
    await fake.start_server()
    config = own_prefix(file_config, "mobile")
    mobile = config.mobile.model_copy(
        update={
            "apps": {"shop-app": MobileAppConfig(secret_env="SB_TEST_MOBILE_SECRET")},
            "fcm": FcmConfig(
                base_url=str(fake.make_url("")),
                project_id="demo-project",
                token_env="SB_TEST_FCM_TOKEN",
                allow_private=True,
            ),
        }
    )
    config = config.model_copy(update={"mobile": mobile})
    server = await start_ready(create_app(settings, config))
    yield Phone(str(server.make_url("")).rstrip("/"), fcm, config)
    await server.close()
    await fake.close()


async def call(
    phone: Phone,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode() if body is not None else b""
    signed = signed_headers(SECRET, raw if method != "GET" else path.encode())
    sent = {"Content-Type": "application/json", "X-Switchboard-App": "shop-app", **signed}
    if key is not None:
        sent["Idempotency-Key"] = key
    sent |= headers or {}
    async with ClientSession() as http, http.request(method, phone.url + path, data=raw or None, headers=sent) as r:
        return r.status, dict(await r.json())


async def replies(phone: Phone, user: str, conversation: str, count: int = 1) -> list[dict[str, Any]]:
    for _ in range(200):
        status, body = await call(phone, "GET", f"/mobile/v1/conversations/{conversation}/messages?user_id={user}")
        assert status == 200
        if len(body["messages"]) >= count:
            return list(body["messages"])
        await asyncio.sleep(0.1)
    pytest.fail("the reply never arrived")


async def test_a_signed_message_is_accepted_answered_kept_and_pushed(phone: Phone) -> None:
    user, conversation = f"m-{uuid.uuid4().hex[:6]}", "chat-1"
    status, _body = await call(
        phone, "POST", "/mobile/v1/devices", {"user_id": user, "platform": "android", "token": "phone-token-1"}
    )
    assert status == 201
    text = "how long have i got to send something back?"
    status, accepted = await call(
        phone,
        "POST",
        "/mobile/v1/messages",
        {"user_id": user, "conversation_id": conversation, "text": text},
        "key-0001",
    )
    assert status == 202
    assert accepted["conversation_id"] == conversation
    [kept] = await replies(phone, user, conversation)
    assert kept["message_id"] == accepted["message_id"]
    assert "30 days" in kept["reply"]["response"]
    assert kept["reply"]["sources"]
    for _ in range(50):
        if phone.fcm.received:
            break
        await asyncio.sleep(0.1)
    [push] = [m for m in phone.fcm.received if m["token"] == "phone-token-1"]
    assert push["data"]["conversation_id"] == conversation
    assert push["data"]["message_id"] == accepted["message_id"]
    assert push["notification"]["body"] == preview(kept["reply"]["response"], 120)
    assert [a["label"] for a in json.loads(push["data"]["actions"])] == ["Start a return"]


@pytest.mark.parametrize("case", ["missing", "forged", "stale", "unknown_app"])
async def test_unsigned_or_badly_signed_requests_are_refused(phone: Phone, case: str) -> None:
    body = {"user_id": "m-x", "text": "hello"}
    raw = json.dumps(body).encode()
    headers = {
        "missing": {"X-Switchboard-Timestamp": "", "X-Switchboard-Signature": ""},
        "forged": {"X-Switchboard-Signature": "v1=" + "0" * 64},
        "stale": signed_headers(SECRET, raw, now=time.time() - 600),
        "unknown_app": {"X-Switchboard-App": "other-app"},
    }[case]
    status, answer = await call(phone, "POST", "/mobile/v1/messages", body, f"key-{case}-1", headers)
    assert status == 401
    assert answer["error"]["code"] in ("bad_signature", "unknown_app")


async def test_a_retried_request_is_processed_once_with_the_same_message_id(phone: Phone) -> None:
    user = f"m-{uuid.uuid4().hex[:6]}"
    body = {"user_id": user, "conversation_id": "retry", "text": "do you accept paypal"}
    first = await call(phone, "POST", "/mobile/v1/messages", body, "key-retry-1")
    second = await call(phone, "POST", "/mobile/v1/messages", body, "key-retry-1")
    assert first[0] == second[0] == 202
    assert second[1] == {"message_id": first[1]["message_id"], "conversation_id": "retry", "duplicate": True}
    await replies(phone, user, "retry")
    await asyncio.sleep(0.5)
    assert len(await replies(phone, user, "retry")) == 1
    status, missing = await call(phone, "POST", "/mobile/v1/messages", body)
    assert (status, missing["error"]["code"]) == (400, "missing_idempotency_key")


async def test_a_user_only_ever_reads_their_own_conversation(phone: Phone) -> None:
    owner = f"m-{uuid.uuid4().hex[:6]}"
    await call(
        phone, "POST", "/mobile/v1/messages", {"user_id": owner, "conversation_id": "mine", "text": "hi"}, "key-own-1"
    )
    await replies(phone, owner, "mine")
    status, other = await call(phone, "GET", "/mobile/v1/conversations/mine/messages?user_id=someone-else")
    assert status == 200
    assert other["messages"] == []
    # the signature covers the query: one made for the owner's path does not read with another user id
    path = f"/mobile/v1/conversations/mine/messages?user_id={owner}"
    headers = {"X-Switchboard-App": "shop-app", **signed_headers(SECRET, path.encode())}
    async with ClientSession() as http:
        async with http.get(phone.url + path.replace(owner, "someone-else"), headers=headers) as response:
            assert response.status == 401


async def test_a_push_is_retried_after_a_5xx_and_a_dead_token_is_removed(phone: Phone, redis_url: str) -> None:
    user = f"m-{uuid.uuid4().hex[:6]}"
    for token in ("flaky-token-1", "dead-token-1"):
        status, _ = await call(
            phone, "POST", "/mobile/v1/devices", {"user_id": user, "platform": "android", "token": token}
        )
        assert status == 201
    await call(
        phone, "POST", "/mobile/v1/messages", {"user_id": user, "conversation_id": "p", "text": "hello"}, "key-push-1"
    )
    await replies(phone, user, "p")
    for _ in range(50):
        if any(m["token"] == "flaky-token-1" for m in phone.fcm.received):
            break
        await asyncio.sleep(0.1)
    assert phone.fcm.attempts["flaky-token-1"] == 2  # 503, then delivered
    assert [m["token"] for m in phone.fcm.received].count("flaky-token-1") == 1
    assert phone.fcm.attempts["dead-token-1"] == 1  # unregistered: never retried
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    from memory.mobile import RedisDevices

    devices = await RedisDevices(client, phone.config.memory.prefix).of(user)
    await client.aclose()
    assert devices == {"flaky-token-1": "android"}
    status, removed = await call(phone, "DELETE", "/mobile/v1/devices", {"user_id": user, "token": "flaky-token-1"})
    assert (status, removed) == (200, {"removed": True})


async def test_buttons_and_feedback_arrive_as_action_events(phone: Phone, redis_url: str) -> None:
    click = {
        "user_id": "demo",
        "conversation_id": "orders",
        "action": "track_order",
        "value": "BC-12345",
        "label": "Track order",
    }
    status, _accepted = await call(phone, "POST", "/mobile/v1/actions", click, "key-click-1")
    assert status == 202
    [kept] = await replies(phone, "demo", "orders")
    assert kept["reply"]["response"].startswith("Order BC-12345 is on its way.")
    vote = {
        "user_id": "demo",
        "conversation_id": "orders",
        "action": "feedback",
        "value": "up",
        "message_id": kept["message_id"],
    }
    assert (await call(phone, "POST", "/mobile/v1/actions", vote, "key-vote-1"))[0] == 202
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    store = RedisFeedbackStore(client, prefix=phone.config.memory.prefix)
    for _ in range(50):
        stored = await store.get("demo", kept["message_id"])
        if stored is not None:
            break
        await asyncio.sleep(0.1)
    await client.aclose()
    assert stored is not None
    assert stored["vote"] == "up"
    bad_vote = {**vote, "value": "meh"}
    status, refused = await call(phone, "POST", "/mobile/v1/actions", bad_vote, "key-vote-2")
    assert (status, refused["error"]["code"]) == (400, "invalid_field")


def test_an_app_without_its_secret_is_a_start_up_error(settings: Settings, file_config: FileConfig) -> None:
    apps = {"shop-app": MobileAppConfig(secret_env="SB_TEST_NEVER_SET_SECRET")}
    config = file_config.model_copy(update={"mobile": file_config.mobile.model_copy(update={"apps": apps})})
    with pytest.raises(SettingsError, match="SB_TEST_NEVER_SET_SECRET: not set"):
        create_app(settings, config)


async def test_a_web_tier_queues_and_a_separate_worker_answers(
    settings: Settings, phone: Phone, mobile_env: None
) -> None:
    from bot.mobile import build_mobile
    from bot.runtime import Runtime

    config = own_prefix(phone.config, "split")
    web_tier = await start_ready(create_app(settings, config, role="web"))
    split = Phone(str(web_tier.make_url("")).rstrip("/"), phone.fcm, config)
    try:
        user = f"m-{uuid.uuid4().hex[:6]}"
        body = {"user_id": user, "conversation_id": "split", "text": "do you take apple pay"}
        assert (await call(split, "POST", "/mobile/v1/messages", body, "key-split-1"))[0] == 202
        await asyncio.sleep(1.0)
        status, waiting = await call(split, "GET", f"/mobile/v1/conversations/split/messages?user_id={user}")
        assert (status, waiting["messages"]) == (200, [])  # queued, not answered by the web tier
        runtime = await Runtime.start(settings, config)
        worker = build_mobile(runtime, None)
        try:
            [kept] = await replies(split, user, "split")
        finally:
            await worker.drain()
            await runtime.close()
        assert kept["reply"]["response"]
    finally:
        await web_tier.close()
