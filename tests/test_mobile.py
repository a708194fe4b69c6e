"""The mobile channel through the real server: signed requests from an app's back end, idempotent retries,
replies kept for the app, and pushes through a fake FCM gateway that checks the payload, fails once and
reports a dead token."""

from __future__ import annotations

import asyncio
import base64
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
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from redis.asyncio import Redis

from adapters.push import preview
from bot.app import create_app
from bot.settings import FcmConfig, FileConfig, MobileAppConfig, Settings, SettingsError
from channels.mobile import signed_bytes
from engine.signing import signed_headers
from engine.types import Action, Reply
from memory.feedback import RedisFeedbackStore
from tests.conftest import environment, own_prefix, start_ready

SECRET = "mobile-app-secret-0123456789"
OTHER_SECRET = "another-app-secret-9876543210"
ENV = {"SB_TEST_MOBILE_SECRET": SECRET, "SB_TEST_OTHER_SECRET": OTHER_SECRET}
SERVICE_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Fcm:
    """FCM HTTP v1 and Google's token endpoint, as far as a sender sees them."""

    received: list[dict[str, Any]] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    minted: list[str] = field(default_factory=list)
    revoked: set[str] = field(default_factory=set)

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        header, claims, signature = str(form["assertion"]).split(".")
        SERVICE_KEY.public_key().verify(
            _unb64(signature), f"{header}.{claims}".encode(), padding.PKCS1v15(), hashes.SHA256()
        )  # raises when the grant is not signed with the service account's key
        grant = json.loads(_unb64(claims))
        assert grant["iss"] == "switchboard@demo-project.iam.gserviceaccount.com"
        assert grant["scope"] == "https://www.googleapis.com/auth/firebase.messaging"
        self.minted.append(f"minted-{len(self.minted) + 1}")
        return web.json_response({"access_token": self.minted[-1], "expires_in": 3599, "token_type": "Bearer"})

    async def send(self, request: web.Request) -> web.Response:
        assert request.match_info["project"] == "demo-project"
        bearer = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if bearer not in self.minted or bearer in self.revoked:
            return web.json_response({"error": {"code": 401, "status": "UNAUTHENTICATED"}}, status=401)
        message = (await request.json())["message"]
        token = message["token"]
        self.attempts[token] = self.attempts.get(token, 0) + 1
        if token.startswith("dead-"):
            body = {"error": {"code": 404, "status": "NOT_FOUND", "details": [{"errorCode": "UNREGISTERED"}]}}
            return web.json_response(body, status=404)
        if token.startswith("flaky-") and self.attempts[token] == 1:
            return web.json_response({"error": {"code": 503, "status": "UNAVAILABLE"}}, status=503)
        if token.startswith("invalid-"):
            error = {"code": 400, "status": "INVALID_ARGUMENT"}
            error["message"] = "The registration token is not a valid FCM registration token"
            return web.json_response({"error": error}, status=400)
        if token.startswith("hang-"):
            await asyncio.sleep(5)  # a gateway that does not answer in time
        if token.startswith("html-"):  # sent, but the answer is a proxy's page, not FCM's JSON
            self.received.append(message)
            return web.Response(text="<html>ok</html>", content_type="text/html")
        if token.startswith("big-"):  # sent, with an answer past what the client reads
            self.received.append(message)
            return web.Response(text="x" * 300_000, content_type="text/plain")
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
    with environment(ENV):
        yield


@pytest.fixture(scope="module")
async def phone(settings: Settings, file_config: FileConfig, mobile_env: None) -> AsyncIterator[Phone]:
    fcm = Fcm()
    gateway = web.Application()
    gateway.router.add_post("/v1/projects/{project}/messages:send", fcm.send)
    gateway.router.add_post("/token", fcm.token)
    fake = TestServer(gateway, host="127.0.0.1")
    await fake.start_server()
    os.environ["SB_TEST_FCM_CREDENTIALS"] = json.dumps(
        {
            "type": "service_account",
            "client_email": "switchboard@demo-project.iam.gserviceaccount.com",
            "private_key": SERVICE_KEY.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ).decode(),
            "token_uri": str(fake.make_url("/token")),
        }
    )
    config = own_prefix(file_config, "mobile")
    mobile = config.mobile.model_copy(
        update={
            "apps": {
                "shop-app": MobileAppConfig(secret_env="SB_TEST_MOBILE_SECRET"),
                "other-app": MobileAppConfig(secret_env="SB_TEST_OTHER_SECRET"),
            },
            "fcm": FcmConfig(
                base_url=str(fake.make_url("")),
                project_id="demo-project",
                credentials_env="SB_TEST_FCM_CREDENTIALS",
                allow_private=True,
            ),
        }
    )
    config = config.model_copy(update={"mobile": mobile})
    server = await start_ready(create_app(settings, config))
    yield Phone(str(server.make_url("")).rstrip("/"), fcm, config)
    await server.close()
    await fake.close()
    os.environ.pop("SB_TEST_FCM_CREDENTIALS", None)


async def call(
    phone: Phone,
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    key: str | None = None,
    headers: dict[str, str] | None = None,
    app: tuple[str, str] = ("shop-app", SECRET),
) -> tuple[int, dict[str, Any]]:
    raw = json.dumps(body).encode() if body is not None else b""
    signed = signed_headers(app[1], signed_bytes(method, path, key or "", raw))
    sent = {"Content-Type": "application/json", "X-Switchboard-App": app[0], **signed}
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
    for _ in range(100):
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
        "stale": signed_headers(
            SECRET, signed_bytes("POST", "/mobile/v1/messages", f"key-{case}-1", raw), time.time() - 600
        ),
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


async def test_text_cut_in_the_middle_of_an_emoji_is_accepted_not_a_server_error(phone: Phone) -> None:
    """A JavaScript back end that cuts a string between an emoji's two halves sends a lone surrogate."""
    user = f"m-{uuid.uuid4().hex[:6]}"
    cut = "\ud83d"  # the first half of U+1F600
    body = {"user_id": user, "conversation_id": "cut", "text": "do you accept paypal " + cut, "note": cut}
    first = await call(phone, "POST", "/mobile/v1/messages", body, "key-cut-1")
    again = await call(phone, "POST", "/mobile/v1/messages", body, "key-cut-1")
    assert (first[0], again[0], again[1].get("duplicate")) == (202, 202, True)
    click = {"user_id": user, "conversation_id": "cut", "action": "start_return", "value": "x" + cut}
    assert (await call(phone, "POST", "/mobile/v1/actions", click, "key-cut-2"))[0] == 202
    assert len(await replies(phone, user, "cut", count=2)) == 2
    half_id = {"user_id": user + cut, "conversation_id": "cut", "text": "hello"}  # never read as another user
    status, refused = await call(phone, "POST", "/mobile/v1/messages", half_id, "key-cut-3")
    assert (status, refused["error"]["code"]) == (400, "invalid_field")


async def test_a_key_sent_again_with_another_request_is_refused_not_taken_for_a_retry(phone: Phone) -> None:
    user = f"m-{uuid.uuid4().hex[:6]}"
    first = {"user_id": user, "conversation_id": "reuse", "text": "do you accept paypal"}
    status, accepted = await call(phone, "POST", "/mobile/v1/messages", first, "key-reuse-1")
    assert status == 202
    other = {**first, "text": "where is my parcel"}
    status, refused = await call(phone, "POST", "/mobile/v1/messages", other, "key-reuse-1")
    assert (status, refused["error"]["code"]) == (422, "idempotency_key_reused")
    action = {"user_id": user, "conversation_id": "reuse", "action": "start_return"}
    status, refused = await call(phone, "POST", "/mobile/v1/actions", action, "key-reuse-1")
    assert (status, refused["error"]["code"]) == (422, "idempotency_key_reused")  # the same key on another route
    status, again = await call(phone, "POST", "/mobile/v1/messages", first, "key-reuse-1")
    assert (status, again["message_id"], again.get("duplicate")) == (202, accepted["message_id"], True)
    # the same request rebuilt after an app restart: other key order and spacing, still a retry
    rebuilt = json.dumps(dict(reversed(list(first.items()))), indent=2).encode()
    signed = signed_headers(SECRET, signed_bytes("POST", "/mobile/v1/messages", "key-reuse-1", rebuilt))
    headers = {"Content-Type": "application/json", "X-Switchboard-App": "shop-app", "Idempotency-Key": "key-reuse-1"}
    async with ClientSession() as http:
        async with http.post(phone.url + "/mobile/v1/messages", data=rebuilt, headers=headers | signed) as r:
            assert (r.status, (await r.json())["message_id"]) == (202, accepted["message_id"])
    assert len(await replies(phone, user, "reuse")) == 1


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
    headers = {"X-Switchboard-App": "shop-app", **signed_headers(SECRET, signed_bytes("GET", path, "", b""))}
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
    for _ in range(100):  # the devices are pushed one after another
        flaky_done = any(m["token"] == "flaky-token-1" for m in phone.fcm.received)
        if flaky_done and phone.fcm.attempts.get("dead-token-1", 0) >= 1:
            break
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # the dead token's removal follows its answer
    assert phone.fcm.attempts["flaky-token-1"] == 2  # 503, then delivered
    assert [m["token"] for m in phone.fcm.received].count("flaky-token-1") == 1
    assert phone.fcm.attempts["dead-token-1"] == 1  # unregistered: never retried
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    from memory.mobile import RedisDevices

    devices = await RedisDevices(client, phone.config.memory.prefix).of("shop-app", user)
    await client.aclose()
    assert devices == {"flaky-token-1": "android"}
    status, removed = await call(phone, "DELETE", "/mobile/v1/devices", {"user_id": user, "token": "flaky-token-1"})
    assert (status, removed) == (200, {"removed": True})


async def test_what_a_gateway_answers_decides_once_and_a_hanging_one_holds_nothing_up(
    phone: Phone, redis_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("channels.mobile.PUSH_DEADLINE_S", 1.0)
    user = f"m-{uuid.uuid4().hex[:6]}"
    tokens = ("hang-token-1", "html-token-1", "big-token-1", "invalid-token-1")
    for token in tokens:
        device = {"user_id": user, "platform": "android", "token": token}
        assert (await call(phone, "POST", "/mobile/v1/devices", device))[0] == 201
    asked = {"user_id": user, "conversation_id": "gw", "text": "hello"}
    await call(phone, "POST", "/mobile/v1/messages", asked, "key-gw-1")
    await replies(phone, user, "gw")
    await asyncio.sleep(1.5)  # past the push deadline: the hanging device was given up
    again = {"user_id": user, "conversation_id": "gw", "text": "do you accept paypal"}
    started = time.monotonic()
    await call(phone, "POST", "/mobile/v1/messages", again, "key-gw-2")
    await replies(phone, user, "gw", count=2)
    assert time.monotonic() - started < 5  # the hanging gateway held no job slot for its 5 s
    for _ in range(30):  # the reply is readable before its pushes are sent: wait for them, not for the hang
        if all(phone.fcm.attempts.get(token, 0) >= 2 for token in ("html-token-1", "big-token-1")):
            break
        await asyncio.sleep(0.1)
    assert phone.fcm.attempts["html-token-1"] == 2  # once per reply: a 200 that is not JSON was sent, not retried
    assert [m["token"] for m in phone.fcm.received].count("html-token-1") == 2
    assert phone.fcm.attempts["big-token-1"] == 2  # nor one whose answer is too long to read
    assert phone.fcm.attempts["invalid-token-1"] == 1  # an invalid token is removed at its first answer
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    from memory.mobile import RedisDevices

    devices = await RedisDevices(client, phone.config.memory.prefix).of("shop-app", user)
    await client.aclose()
    assert sorted(devices) == ["big-token-1", "hang-token-1", "html-token-1"]


def test_a_push_preview_is_plain_text() -> None:
    shown = preview("You have **30 days** to [return it](https://h.example/returns), see `Orders`.", 120)
    assert shown == "You have 30 days to return it, see Orders."


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
    for _ in range(100):
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
    from bot.mobile import Gateways, build_mobile
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
        worker = build_mobile(runtime, Gateways())
        try:
            [kept] = await replies(split, user, "split")
        finally:
            await worker.drain()
            await runtime.close()
        assert kept["reply"]["response"]
    finally:
        await web_tier.close()


async def test_a_captured_request_cannot_be_replayed_with_a_new_key_route_or_method(phone: Phone) -> None:
    body = {"user_id": "m-replay", "conversation_id": "r", "text": "hello"}
    raw = json.dumps(body).encode()
    signed = signed_headers(SECRET, signed_bytes("POST", "/mobile/v1/messages", "key-captured-1", raw))
    headers = {"Content-Type": "application/json", "X-Switchboard-App": "shop-app", **signed}
    async with ClientSession() as http:
        for method, path, key in (
            ("POST", "/mobile/v1/messages", "key-captured-2"),  # a fresh key
            ("POST", "/mobile/v1/actions", "key-captured-1"),  # another route
        ):
            async with http.request(
                method, phone.url + path, data=raw, headers={**headers, "Idempotency-Key": key}
            ) as r:
                assert r.status == 401, (method, path, key)
    device = {"user_id": "m-replay", "platform": "android", "token": "phone-token-replay"}
    raw = json.dumps(device).encode()
    signed = signed_headers(SECRET, signed_bytes("POST", "/mobile/v1/devices", "", raw))
    headers = {"Content-Type": "application/json", "X-Switchboard-App": "shop-app", **signed}
    async with ClientSession() as http:
        async with http.delete(phone.url + "/mobile/v1/devices", data=raw, headers=headers) as r:
            assert r.status == 401  # a registration's signature does not unregister


async def test_apps_never_see_each_others_conversations_or_devices(phone: Phone) -> None:
    other = ("other-app", OTHER_SECRET)
    user = f"m-{uuid.uuid4().hex[:6]}"
    device = {"user_id": user, "platform": "android", "token": "shop-only-token"}
    assert (await call(phone, "POST", "/mobile/v1/devices", device))[0] == 201
    body = {"user_id": user, "conversation_id": "shared-id", "text": "hi"}
    await call(phone, "POST", "/mobile/v1/messages", body, "key-apps-1")
    await replies(phone, user, "shared-id")
    status, seen = await call(phone, "GET", f"/mobile/v1/conversations/shared-id/messages?user_id={user}", app=other)
    assert (status, seen["messages"]) == (200, [])
    status, removed = await call(
        phone, "DELETE", "/mobile/v1/devices", {"user_id": user, "token": "shop-only-token"}, app=other
    )
    assert (status, removed) == (200, {"removed": False})


async def test_approval_tokens_never_travel_in_a_push(phone: Phone) -> None:
    device = {"user_id": "demo", "platform": "android", "token": "demo-phone-token"}
    assert (await call(phone, "POST", "/mobile/v1/devices", device))[0] == 201
    body = {"user_id": "demo", "conversation_id": "refund", "text": "i want a refund for my headphones please"}
    await call(phone, "POST", "/mobile/v1/messages", body, "key-refund-1")
    [kept] = await replies(phone, "demo", "refund")
    assert any(a.get("value") for a in kept["reply"]["actions"])  # the app gets the token …
    for _ in range(100):
        pushes = [m for m in phone.fcm.received if m["token"] == "demo-phone-token"]
        if pushes:
            break
        await asyncio.sleep(0.1)
    [push] = pushes
    assert [a["label"] for a in json.loads(push["data"]["actions"])] == ["Approve", "Cancel"]
    assert "value" not in push["data"]["actions"]  # … the push gateway never does
    assert kept["reply"]["actions"][0]["value"] not in json.dumps(push)


async def test_a_request_that_could_not_be_queued_is_processed_when_retried(
    redis_client: Redis, key_prefix: str
) -> None:
    from channels.mobile import MobileStores, add_mobile_routes
    from channels.rest import RestLimits
    from memory.jobs import RedisJobQueue
    from memory.mobile import RedisDevices, RedisReplyLog, RedisRequestKeys

    dead: Redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nothing listens there
    keys = RedisRequestKeys(redis_client, key_prefix)
    down = MobileStores(
        RedisJobQueue(dead, f"{key_prefix}:jobs"),
        keys,
        RedisDevices(redis_client, key_prefix),
        RedisReplyLog(redis_client, key_prefix),
    )
    up = MobileStores(RedisJobQueue(redis_client, f"{key_prefix}:jobs"), keys, down.devices, down.replies)
    current = [down]
    app = web.Application()
    add_mobile_routes(app, {"shop-app": SECRET}, lambda: current[0], RestLimits())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    target = Phone(str(server.make_url("")).rstrip("/"), Fcm(), None)  # type: ignore[arg-type]
    body = {"user_id": "m-down", "text": "hello"}
    try:
        status, refused = await call(target, "POST", "/mobile/v1/messages", body, "key-down-1")
        assert (status, refused["error"]["code"]) == (503, "unavailable")
        current[0] = up
        status, accepted = await call(target, "POST", "/mobile/v1/messages", body, "key-down-1")
        assert status == 202
        assert "duplicate" not in accepted  # processed now, not taken for a retry of queued work
        assert await redis_client.xlen(f"{key_prefix}:jobs") == 1
    finally:
        await server.close()
        await dead.aclose()


async def test_an_access_token_is_minted_once_and_renewed_when_refused(phone: Phone) -> None:
    user = f"m-{uuid.uuid4().hex[:6]}"
    device = {"user_id": user, "platform": "android", "token": "renew-token-1"}
    assert (await call(phone, "POST", "/mobile/v1/devices", device))[0] == 201

    async def ask_and_wait_for_push(conversation: str, count: int) -> None:
        body = {"user_id": user, "conversation_id": conversation, "text": "hi"}
        await call(phone, "POST", "/mobile/v1/messages", body, f"key-renew-{conversation}")
        await replies(phone, user, conversation)
        for _ in range(100):
            if [m["token"] for m in phone.fcm.received].count("renew-token-1") >= count:
                return
            await asyncio.sleep(0.1)
        pytest.fail("no push")

    await ask_and_wait_for_push("first", 1)
    minted = len(phone.fcm.minted)
    assert minted >= 1
    await ask_and_wait_for_push("second", 2)
    assert len(phone.fcm.minted) == minted  # reused, not minted per push
    phone.fcm.revoked.add(phone.fcm.minted[-1])  # Google stops accepting it (expired, revoked)
    await ask_and_wait_for_push("third", 3)
    assert len(phone.fcm.minted) == minted + 1  # one fresh token, then delivered


class RecordingPusher:
    """A push gateway's client, as far as the worker sees it: slow when asked, broken for `broken-` tokens."""

    def __init__(self, delay_s: float = 0.0) -> None:
        self.pushed: list[tuple[str, str, str]] = []
        self.delay_s = delay_s

    async def push(self, token: str, reply: Reply, conversation_id: str, message_id: str) -> str:
        await asyncio.sleep(self.delay_s)
        if token.startswith("broken-"):
            raise RuntimeError("the gateway client broke")
        self.pushed.append((token, message_id, reply.text))
        return "sent"


async def kept_not_pushed(redis_client: Redis, key_prefix: str, tokens: tuple[str, ...]) -> Any:
    """Stores where a worker died after keeping a reply for `m-died` and before pushing it."""
    from channels.mobile import MobileStores
    from memory.jobs import RedisJobQueue
    from memory.mobile import RedisDevices, RedisReplyLog, RedisRequestKeys

    stores = MobileStores(
        queue=RedisJobQueue(redis_client, f"{key_prefix}:mjobs"),
        keys=RedisRequestKeys(redis_client, key_prefix),
        devices=RedisDevices(redis_client, key_prefix),
        replies=RedisReplyLog(redis_client, key_prefix),
    )
    for token in tokens:
        await stores.devices.add("shop-app", "u-died", "android", token)
    answered = Reply("You have 30 days.", (), (Action("Start a return", "start_return"),), 0.9, "r", "customer", False)
    await stores.replies.add("shop-app", "u-died", "c1", "m-died", answered.to_json())
    return stores


DIED_JOB = {"app": "shop-app", "user_id": "u-died", "conversation_id": "c1", "text": "how long", "message_id": "m-died"}


async def test_a_reply_kept_by_a_worker_that_died_before_pushing_is_pushed_by_the_next(
    redis_client: Redis, key_prefix: str
) -> None:
    from channels.mobile import MobileWork

    stores = await kept_not_pushed(redis_client, key_prefix, ("tok-died-1",))
    pusher = RecordingPusher()
    work = MobileWork(lambda: None, stores, {"android": pusher}, RedisFeedbackStore(redis_client, prefix=key_prefix))
    assert await work.run("message", DIED_JOB)  # the engine is not asked (there is none): the kept reply is pushed
    assert pusher.pushed == [("tok-died-1", "m-died", "You have 30 days.")]
    assert await work.run("message", DIED_JOB)  # handed out once more: pushed already, not again
    assert len(pusher.pushed) == 1


async def test_two_deliveries_at_once_push_a_reply_once_and_a_broken_device_stops_no_other(
    redis_client: Redis, key_prefix: str
) -> None:
    from channels.mobile import MobileWork

    stores = await kept_not_pushed(redis_client, key_prefix, ("tok-a", "broken-b", "tok-c"))
    pusher = RecordingPusher(delay_s=0.3)  # a delivery arrives while the other is still pushing (reviewer's case)
    work = MobileWork(lambda: None, stores, {"android": pusher}, RedisFeedbackStore(redis_client, prefix=key_prefix))
    outcomes = await asyncio.gather(work.run("message", DIED_JOB), work.run("message", DIED_JOB))
    assert sorted(outcomes) == [False, True]  # the second is handed out again later, not pushed now
    assert sorted(token for token, _, _ in pusher.pushed) == ["tok-a", "tok-c"]
    assert await work.run("message", DIED_JOB)  # that later delivery: done, nothing pushed again
    assert len(pusher.pushed) == 2


async def test_the_answering_lease_is_its_holders_alone(redis_client: Redis, key_prefix: str) -> None:
    from memory.mobile import RedisReplyLog

    replies = RedisReplyLog(redis_client, key_prefix)
    token = await replies.start("shop-app", "u-lease", "m1", hold_s=1)
    assert token is not None
    assert await replies.start("shop-app", "u-lease", "m1", hold_s=1) is None  # held
    assert await replies.renew("shop-app", "u-lease", "m1", token, hold_s=2)
    await asyncio.sleep(1.2)
    assert await replies.start("shop-app", "u-lease", "m1", hold_s=1) is None  # renewed past its first second
    await asyncio.sleep(1.0)
    late = await replies.start("shop-app", "u-lease", "m1", hold_s=5)  # lapsed: another worker takes it
    assert late is not None
    assert not await replies.renew("shop-app", "u-lease", "m1", token, hold_s=5)  # the first holder cannot
    await replies.done("shop-app", "u-lease", "m1", token)  # nor end the new holder's lease
    assert await replies.start("shop-app", "u-lease", "m1", hold_s=5) is None
    await replies.done("shop-app", "u-lease", "m1", late)
    assert await replies.start("shop-app", "u-lease", "m1", hold_s=5) is not None
