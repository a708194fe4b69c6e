"""The web channel's WebSocket and sessions end to end: a real server on loopback (SmolLM2 runtime, real
FAISS and Redis), aiohttp's WebSocket client speaking the protocol of docs/web.md."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession, ClientWebSocketResponse, WSMsgType, WSServerHandshakeError, web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from redis.asyncio import Redis

from bot.app import create_app
from bot.settings import FileConfig, Settings
from channels.addresses import client_address
from channels.web.sessions import SessionRefused, SessionSigner
from channels.web.socket import RateLimiter, WebChannel, WebLimits
from engine.protocols import StoreUnavailable
from engine.types import EventKind, Message, Reply, ReplyEvent
from memory.privacy import UserData
from memory.store import shared_secret
from memory.web import RedisFrameLog
from tests.conftest import own_prefix, start_ready

TOKEN = "web-test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ALLOWED = "http://shop.example.test"
QUESTION = "how long do refunds take to reach my card?"


@pytest.fixture(scope="module")
def config(file_config: FileConfig) -> FileConfig:
    config = own_prefix(file_config, "web")
    # Every test's sockets come from 127.0.0.1: the per-address limits are tested on a server of their own.
    update = {
        "allowed_origins": [ALLOWED],
        "burst": 3,
        "messages_per_minute": 6,
        "anonymous_messages_burst": 1000,
        "max_waiting_per_address": 100,  # one test opens 26 sockets at once, to test the per-user cap
    }
    web = config.web.model_copy(update=update)
    return config.model_copy(update={"web": web})


@pytest.fixture(scope="module")
async def base(settings: Settings, config: FileConfig) -> AsyncIterator[str]:
    with_token = settings.model_copy(update={"api_token": SecretStr(TOKEN)})
    server = await start_ready(create_app(with_token, config))
    yield str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


async def session_for(http: ClientSession, base: str, user: str | None = None) -> dict[str, Any]:
    body = {} if user is None else {"user_id": user}
    async with http.post(f"{base}/api/session", json=body, headers=AUTH if user else {}) as response:
        assert response.status == 200, await response.text()
        return dict(await response.json())


async def hello(
    http: ClientSession, base: str, token: str, conversation: str = "c1", after: int = 0, **kwargs: Any
) -> tuple[ClientWebSocketResponse, dict[str, Any]]:
    ws = await http.ws_connect(f"{base}/ws", **kwargs)
    await ws.send_json({"type": "hello", "token": token, "conversation_id": conversation, "after": after})
    ready = await receive(ws)
    assert ready["type"] == "ready", ready
    return ws, ready


async def receive(ws: ClientWebSocketResponse, wait_s: float = 60) -> dict[str, Any]:
    frame = await ws.receive(timeout=wait_s)
    assert frame.type is WSMsgType.TEXT, (frame.type, frame.data, ws.close_code)
    return dict(json.loads(frame.data))


async def until_final(ws: ClientWebSocketResponse) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await receive(ws)
        frames.append(frame)
        if frame["type"] in ("final", "error"):
            return frames


async def test_a_question_streams_numbered_frames_and_a_cited_final(http: ClientSession, base: str) -> None:
    issued = await session_for(http, base)
    assert issued["user_id"].startswith("web-anon-")
    assert issued["expires_at"] > time.time()
    ws, ready = await hello(http, base, issued["token"])
    assert ready["user_id"] == issued["user_id"]
    assert ready["conversation_id"] == "c1"
    await ws.send_json({"type": "message", "text": QUESTION, "client_id": "m1"})
    frames = await until_final(ws)
    await ws.close()
    echo, *streamed, final = frames
    assert echo["type"] == "message"
    assert echo["client_id"] == "m1"
    assert echo["text"] == QUESTION
    assert [f["seq"] for f in frames] == list(range(1, len(frames) + 1))
    assert {f["type"] for f in streamed} <= {"status", "token"}
    assert any(f["type"] == "token" for f in streamed)
    assert final["type"] == "final"
    assert final["message_id"] == echo["message_id"]
    reply = final["reply"]
    assert "".join(f["text"] for f in streamed if f["type"] == "token") == reply["response"]
    assert reply["sources"]
    assert not reply["metadata"]["escalated"]
    assert "refund" in reply["response"].lower()


async def test_a_reload_gets_the_conversation_without_the_streamed_pieces(http: ClientSession, base: str) -> None:
    issued = await session_for(http, base)
    ws, _ = await hello(http, base, issued["token"])
    await ws.send_json({"type": "message", "text": QUESTION, "client_id": "m1"})
    live = await until_final(ws)
    await ws.close()
    again, _ = await hello(http, base, issued["token"])  # a new page: after 0
    replayed = [await receive(again) for _ in range(2)]
    assert [f["type"] for f in replayed] == ["message", "final"]
    assert replayed[0] == live[0]
    assert replayed[1] == live[-1]
    await again.send_json({"type": "resume", "after": live[-1]["seq"]})  # nothing newer: nothing comes
    with pytest.raises(asyncio.TimeoutError):
        await again.receive(timeout=0.5)
    await again.close()


async def test_a_dropped_socket_misses_nothing_and_a_resent_message_is_answered_once(
    http: ClientSession, base: str
) -> None:
    issued = await session_for(http, base)
    ws, _ = await hello(http, base, issued["token"], "drop")
    await ws.send_json({"type": "message", "text": QUESTION, "client_id": "once"})
    echo = await receive(ws)
    first_after_echo = await receive(ws)
    ws._response.connection.transport.abort()  # type: ignore[union-attr]  # the network went away
    await asyncio.sleep(1.0)  # the answer goes on without the socket
    back, _ = await hello(http, base, issued["token"], "drop", after=first_after_echo["seq"])
    # The widget resends what it sent before the drop; the server knows the client id and answers it once.
    await back.send_json({"type": "message", "text": QUESTION, "client_id": "once"})
    rest = await until_final(back)
    with pytest.raises(asyncio.TimeoutError):
        await back.receive(timeout=1.0)  # the resend produced nothing new
    await back.close()
    assert all(f["seq"] > first_after_echo["seq"] for f in rest)
    assert [f["type"] for f in rest].count("final") == 1
    assert rest[-1]["message_id"] == echo["message_id"]
    history, _ = await hello(http, base, issued["token"], "drop")
    frames = [await receive(history) for _ in range(2)]
    with pytest.raises(asyncio.TimeoutError):
        await history.receive(timeout=0.5)
    await history.close()
    assert [f["type"] for f in frames] == ["message", "final"]


async def test_a_client_id_used_in_another_conversation_is_refused_not_ignored(http: ClientSession, base: str) -> None:
    issued = await session_for(http, base)
    first, _ = await hello(http, base, issued["token"], "reuse-a")
    await first.send_json({"type": "message", "text": QUESTION, "client_id": "same1"})
    assert (await until_final(first))[-1]["type"] == "final"
    await first.close()
    other, _ = await hello(http, base, issued["token"], "reuse-b")
    await other.send_json({"type": "message", "text": QUESTION, "client_id": "same1"})
    refused = await receive(other, 10)
    assert (refused["type"], refused["code"], refused["client_id"]) == ("error", "client_id_reused", "same1")
    await other.send_json({"type": "message", "text": QUESTION, "client_id": "same2"})
    assert (await until_final(other))[-1]["type"] == "final"  # a new id is answered there
    await other.close()


async def test_bad_frames_get_error_frames_and_the_socket_stays(http: ClientSession, base: str) -> None:
    issued = await session_for(http, base)
    ws, _ = await hello(http, base, issued["token"], "bad")
    cases: list[tuple[str | bytes, str]] = [
        ("{not json", "bad_json"),
        ("[1, 2]", "bad_frame"),
        (json.dumps({"text": "hi"}), "bad_frame"),
        (json.dumps({"type": "shout"}), "unknown_type"),
        (json.dumps({"type": "message"}), "invalid_field"),
        (json.dumps({"type": "message", "text": "\u200b"}), "invalid_field"),
        (json.dumps({"type": "message", "text": "x" * 4001}), "text_too_long"),
        (json.dumps({"type": "message", "text": "hi", "client_id": "../etc"}), "invalid_field"),
        (json.dumps({"type": "action", "action": "DROP TABLE"}), "invalid_field"),
        (json.dumps({"type": "feedback", "message_id": "x", "value": "meh"}), "invalid_field"),
        (json.dumps({"type": "resume", "after": -1}), "invalid_field"),
        ('{"type": "resume", "after": ' + "1" * 5000 + "}", "bad_json"),  # past Python's integer digit limit
        (json.dumps({"type": "message", "text": "hi", "client_id": "abc\n"}), "invalid_field"),
        (json.dumps({"type": "hello", "token": issued["token"]}), "bad_frame"),
        (b"\x00\x01", "bad_frame"),
    ]
    for data, code in cases:
        await (ws.send_bytes(data) if isinstance(data, bytes) else ws.send_str(data))
        frame = await receive(ws, wait_s=10)
        assert (frame["type"], frame["code"]) == ("error", code), data
        assert frame["message"]
    await ws.send_json({"type": "resume", "after": 0})  # still open and answering
    with pytest.raises(asyncio.TimeoutError):
        await ws.receive(timeout=0.3)
    assert not ws.closed
    await ws.close()


async def test_an_oversized_frame_closes_the_socket_with_1009(http: ClientSession, base: str) -> None:
    issued = await session_for(http, base)
    ws, _ = await hello(http, base, issued["token"], "big")
    await ws.send_str(json.dumps({"type": "message", "text": "x" * 20000}))
    frame = await ws.receive(timeout=10)
    assert frame.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    assert ws.close_code == 1009


@pytest.mark.parametrize("how", ["forged", "expired", "missing", "not_hello", "other_secret"])
async def test_bad_session_tokens_are_refused_with_4401(
    http: ClientSession, base: str, redis_client: Redis, config: FileConfig, how: str
) -> None:
    issued = await session_for(http, base, "alice")
    secret = await shared_secret(redis_client, config.memory.prefix, "web-session")
    first: dict[str, Any] = {"type": "hello", "token": issued["token"]}
    if how == "forged":  # another user's name under the old mac
        signer = SessionSigner(b"not-the-server-secret-000")
        forged, _ = signer.issue("mallory", 600)
        first["token"] = forged.rsplit(".", 1)[0] + "." + issued["token"].rsplit(".", 1)[1]
    elif how == "expired":
        first["token"], _ = SessionSigner(secret).issue("alice", 60, now=time.time() - 120)
    elif how == "missing":
        del first["token"]
    elif how == "not_hello":
        first = {"type": "message", "text": "hi"}
    else:
        first["token"], _ = SessionSigner(b"not-the-server-secret-000").issue("alice", 600)
    ws = await http.ws_connect(f"{base}/ws")
    await ws.send_json(first)
    error = await receive(ws)
    assert error["type"] == "error"
    assert error["code"] == ("session_expired" if how == "expired" else "unauthorized")
    closing = await ws.receive(timeout=10)
    assert closing.type in (WSMsgType.CLOSE, WSMsgType.CLOSED)
    assert ws.close_code == 4401


async def test_only_allowed_origins_may_open_the_socket(http: ClientSession, base: str) -> None:
    issued = await session_for(http, base)
    with pytest.raises(WSServerHandshakeError) as refused:
        await http.ws_connect(f"{base}/ws", headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403
    for origin in (ALLOWED, base):  # the configured site, and the server's own pages
        ws, _ = await hello(http, base, issued["token"], headers={"Origin": origin})
        await ws.close()
    async with http.get(f"{base}/ws") as plain:  # not a WebSocket request
        assert plain.status == 400
        assert (await plain.json())["error"]["code"] == "not_websocket"


async def test_messages_past_the_rate_are_refused_with_their_client_id(http: ClientSession, base: str) -> None:
    issued = await session_for(http, base)
    ws, _ = await hello(http, base, issued["token"], "burst")
    for n in range(4):  # burst 3
        await ws.send_json({"type": "message", "text": f"hi number {n}", "client_id": f"b{n}"})
    refused = None
    finals = 0
    while finals < 3 or refused is None:
        frame = await receive(ws)
        finals += frame["type"] == "final"
        if frame["type"] == "error":
            refused = frame
    await ws.close()
    assert refused["code"] == "rate_limited"
    assert refused["client_id"] == "b3"
    assert refused["retry_after_s"] >= 1


async def test_one_user_never_sees_another_users_conversation(http: ClientSession, base: str) -> None:
    alice = await session_for(http, base, "alice-web")
    bob = await session_for(http, base, "bob-web")
    ws, _ = await hello(http, base, alice["token"], "shared-name")
    await ws.send_json({"type": "message", "text": "my order BC-55555 is late", "client_id": "a1"})
    await until_final(ws)
    spy, ready = await hello(http, base, bob["token"], "shared-name")
    assert ready["user_id"] == "bob-web"
    with pytest.raises(asyncio.TimeoutError):
        await spy.receive(timeout=0.5)
    await spy.close()
    await ws.close()


async def test_feedback_is_saved_once_and_replayed(http: ClientSession, base: str) -> None:
    issued = await session_for(http, base, "voter-web")
    ws, _ = await hello(http, base, issued["token"], "votes")
    await ws.send_json({"type": "message", "text": QUESTION})
    final = (await until_final(ws))[-1]
    await ws.send_json({"type": "feedback", "message_id": final["message_id"], "value": "up"})
    saved = await receive(ws)
    assert saved == {"seq": final["seq"] + 1, "type": "feedback", "message_id": final["message_id"], "value": "up"}
    await ws.send_json({"type": "feedback", "message_id": final["message_id"], "value": "down"})
    again = await receive(ws)
    assert again["recorded"] is False
    assert "seq" not in again
    await ws.close()
    reload, _ = await hello(http, base, issued["token"], "votes", after=final["seq"])
    assert (await receive(reload))["value"] == "up"
    await reload.close()


async def test_named_sessions_need_the_api_token(http: ClientSession, base: str) -> None:
    async with http.post(f"{base}/api/session", json={"user_id": "alice"}) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "unauthorized"
    for body in ({"user_id": "a b"}, {"ttl_s": 5}, {"ttl_s": "1h"}):
        async with http.post(f"{base}/api/session", json=body, headers=AUTH) as response:
            assert (response.status, (await response.json())["error"]["code"]) == (400, "invalid_field"), body
    async with http.post(f"{base}/api/session", data="nope", headers=AUTH) as response:
        assert response.status == 400
        assert (await response.json())["error"]["code"] == "invalid_json"
    named = await session_for(http, base, "alice")
    assert named["user_id"] == "alice"


async def test_cors_preflight_only_for_allowed_origins(http: ClientSession, base: str) -> None:
    async with http.options(f"{base}/api/session", headers={"Origin": ALLOWED}) as response:
        assert response.status == 204
        assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    async with http.options(f"{base}/api/session", headers={"Origin": "https://evil.example"}) as response:
        assert response.status == 403
        assert "Access-Control-Allow-Origin" not in response.headers
    headers = {"Origin": "https://evil.example"}
    async with http.post(f"{base}/api/session", json={}, headers=headers) as response:
        assert "Access-Control-Allow-Origin" not in response.headers  # the browser keeps the token from it


async def test_the_widget_and_the_demo_page_are_served(http: ClientSession, base: str) -> None:
    async with http.get(f"{base}/widget.js") as response:
        assert response.status == 200
        assert response.content_type == "text/javascript"
        assert "textContent" in await response.text()
    async with http.get(f"{base}/") as response:
        assert response.status == 200
        assert "/widget.js" in await response.text()
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]


async def test_export_and_erasure_find_the_web_conversation(
    http: ClientSession, base: str, redis_client: Redis, config: FileConfig
) -> None:
    issued = await session_for(http, base, "erase-me-web")
    ws, _ = await hello(http, base, issued["token"], "private")
    await ws.send_json({"type": "message", "text": "my email is erase.me@example.com, where is my refund?"})
    frames = await until_final(ws)
    await ws.close()
    assert "erase.me@example.com" not in frames[0]["text"]  # the log keeps the redacted text
    data = UserData(redis_client, config.memory.prefix)
    exported = json.dumps(await data.export("erase-me-web"))
    assert frames[-1]["message_id"] in exported
    await data.forget("erase-me-web")
    assert not await data.keys("erase-me-web")
    again, _ = await hello(http, base, issued["token"], "private")
    with pytest.raises(asyncio.TimeoutError):
        await again.receive(timeout=0.5)
    await again.close()


async def test_anonymous_sessions_are_off_off_loopback_unless_enabled(settings: Settings, config: FileConfig) -> None:
    from aiohttp.test_utils import TestServer

    public = config.model_copy(update={"server": config.server.model_copy(update={"host": "0.0.0.0"})})  # noqa: S104
    server = TestServer(create_app(settings, public), host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as http:
            async with http.post(server.make_url("/api/session"), json={}) as response:
                assert response.status == 403
                assert (await response.json())["error"]["code"] == "anonymous_off"
            # and with no API token set, nobody may name a user (they could read that user's chat)
            async with http.post(server.make_url("/api/session"), json={"user_id": "alice"}) as response:
                assert response.status == 403
                assert (await response.json())["error"]["code"] == "named_sessions_off"
    finally:
        await server.close()


async def test_one_address_cannot_hold_unopened_sockets_or_mint_sessions_for_more_messages(
    settings: Settings, config: FileConfig
) -> None:
    update = {"max_waiting_per_address": 2, "anonymous_messages_burst": 2, "anonymous_messages_per_minute": 1}
    behind_proxy = config.server.model_copy(update={"trusted_proxies": ["127.0.0.0/8"]})  # as if nginx were here
    tight = config.model_copy(update={"web": config.web.model_copy(update=update), "server": behind_proxy})
    server = await start_ready(create_app(settings.model_copy(update={"api_token": SecretStr(TOKEN)}), tight))
    base = str(server.make_url("")).rstrip("/")
    try:
        async with ClientSession() as http:
            silent = [await http.ws_connect(f"{base}/ws") for _ in range(2)]  # opened, no hello (yet)
            with pytest.raises(WSServerHandshakeError) as refused:
                await http.ws_connect(f"{base}/ws")
            assert refused.value.status == 429
            # behind the trusted proxy, another client (named by X-Forwarded-For) has places of its own
            elsewhere = await http.ws_connect(f"{base}/ws", headers={"X-Forwarded-For": "198.51.100.7"})
            silent.append(elsewhere)
            first, second = await session_for(http, base), await session_for(http, base)
            await silent[0].send_json({"type": "hello", "token": first["token"], "conversation_id": "a"})
            assert (await receive(silent[0]))["type"] == "ready"
            third = await http.ws_connect(f"{base}/ws")  # a place was freed by the hello
            await third.send_json({"type": "hello", "token": second["token"], "conversation_id": "b"})
            assert (await receive(third))["type"] == "ready"
            # Two anonymous sessions (two users, per-user burst 3) share their address's bucket of 2.
            for ws, client_id in ((silent[0], "x1"), (third, "y1")):
                await ws.send_json({"type": "message", "text": "hello there", "client_id": client_id})
                assert (await receive(ws))["type"] == "message"  # taken: its echo
            await silent[0].send_json({"type": "message", "text": "hello again", "client_id": "x2"})
            frame = await receive(silent[0])
            while frame["type"] != "error":  # x1's answer may still be streaming
                frame = await receive(silent[0])
            assert (frame["code"], frame["client_id"]) == ("rate_limited", "x2")
            named = await session_for(http, base, "web-named-user")  # a user the site named has only its own
            ws, _ = await hello(http, base, named["token"], "n")
            await ws.send_json({"type": "message", "text": "hello there", "client_id": "n1"})
            assert (await receive(ws))["type"] == "message"  # taken: its echo
            for socket in (*silent, third, ws):
                await socket.close()
    finally:
        await server.close()


def test_per_address_limits_count_an_ipv6_client_as_its_slash_64() -> None:
    from aiohttp.test_utils import make_mocked_request

    def key(remote: str) -> str:
        request = make_mocked_request("GET", "/ws")
        return client_address(request.clone(remote=remote))

    assert key("2001:db8:1:2::1") == key("2001:db8:1:2:ffff:eeee:dddd:cccc") == "2001:db8:1:2::/64"
    assert key("2001:db8:1:3::1") != key("2001:db8:1:2::1")
    assert key("::ffff:192.0.2.7") == key("192.0.2.7") == "192.0.2.7"
    assert key("192.0.2.8") != key("192.0.2.7")


def test_the_client_behind_trusted_proxies_is_read_from_the_right_of_x_forwarded_for() -> None:
    from channels.addresses import client_behind, networks

    proxies = networks(["10.0.0.0/8", "2001:db8::1"])
    assert client_behind("198.51.100.7", "203.0.113.9", proxies) == "198.51.100.7"  # not from a proxy: as is
    assert client_behind("10.0.0.1", "203.0.113.9", proxies) == "203.0.113.9"
    assert client_behind("10.0.0.1", "1.2.3.4, 203.0.113.9, 10.0.0.2", proxies) == "203.0.113.9"  # left is forged
    assert client_behind("2001:db8::1", "2001:db8:5::7", proxies) == "2001:db8:5::7"
    assert client_behind("10.0.0.1", "unknown", proxies) == "10.0.0.1"
    assert client_behind("10.0.0.1", "10.0.0.3, 10.0.0.2", proxies) == "10.0.0.3"  # only proxies: the first
    with pytest.raises(ValueError, match=r"'10\.0\.0\.300'"):
        networks(["10.0.0.300"])


def test_allowed_origins_match_as_browsers_send_them(settings: Settings, config: FileConfig) -> None:
    from aiohttp.test_utils import make_mocked_request

    from bot.web import web_policy
    from channels.web.routes import origin_allowed

    origins = ["HTTPS://Shop.Example.com:443", "http://Admin.Example.com:8080", "http://plain.example.com:80"]
    policy = web_policy(
        settings, config.model_copy(update={"web": config.web.model_copy(update={"allowed_origins": origins})})
    )
    assert policy.allowed_origins == {
        "https://shop.example.com",
        "http://admin.example.com:8080",
        "http://plain.example.com",
    }
    for origin, allowed in (
        ("https://shop.example.com", True),
        ("http://admin.example.com:8080", True),
        ("http://plain.example.com", True),
        ("https://shop.example.com.evil.example", False),
        ("http://admin.example.com", False),
    ):
        request = make_mocked_request("GET", "/ws", headers={"Origin": origin, "Host": "switchboard.example"})
        assert origin_allowed(request, policy) is allowed, origin


def test_session_tokens_expire_and_cannot_be_altered() -> None:
    signer = SessionSigner(b"0123456789abcdef0123")
    token, session = signer.issue("alice", 600, now=1000.0)
    assert signer.verify(token, now=1500.0) == session
    with pytest.raises(SessionRefused) as expired:
        signer.verify(token, now=1600.0)
    assert expired.value.code == "session_expired"
    head, payload, mac = token.split(".")
    for bad in (f"{head}.{payload}.{mac[:-1]}A", f"v2.{payload}.{mac}", token + "x", "", None, "é" * 10, "a" * 2000):
        with pytest.raises(SessionRefused):
            signer.verify(bad, now=1500.0)
    _anonymous, first = signer.anonymous(600)
    assert first.anonymous
    assert signer.anonymous(600)[1].user_id != first.user_id


def test_the_rate_limiter_allows_a_burst_then_the_rate() -> None:
    limiter = RateLimiter(per_minute=60, burst=2)
    assert limiter.wait_s("u", now=0.0) == 0
    limiter.refund("u")  # a message another limit refused costs nothing here
    assert limiter.wait_s("u", now=0.0) == 0
    assert limiter.wait_s("u", now=0.0) == 0
    assert limiter.wait_s("u", now=0.0) == pytest.approx(1.0)
    assert limiter.wait_s("other", now=0.0) == 0  # per user
    assert limiter.wait_s("u", now=1.01) == 0
    assert limiter.wait_s("u", now=1.02) > 0


async def test_a_client_ahead_of_the_log_is_reset_and_sent_everything(http: ClientSession, base: str) -> None:
    issued = await session_for(http, base)
    ws, _ = await hello(http, base, issued["token"], "ahead")
    await ws.send_json({"type": "message", "text": QUESTION, "client_id": "a1"})
    last = (await until_final(ws))[-1]
    await ws.close()
    renewed, _ = await hello(http, base, issued["token"], "ahead", after=last["seq"] + 40)
    assert (await receive(renewed)) == {"type": "reset"}
    replayed = [await receive(renewed) for _ in range(2)]
    assert [f["seq"] for f in replayed] == [1, last["seq"]]
    await renewed.send_json({"type": "message", "text": "thanks!", "client_id": "a2"})
    assert (await receive(renewed))["client_id"] == "a2"  # and new frames reach it
    await until_final(renewed)
    await renewed.close()


async def test_votes_only_on_replies_in_this_conversation(http: ClientSession, base: str) -> None:
    issued = await session_for(http, base)
    ws, _ = await hello(http, base, issued["token"], "vote-a")
    await ws.send_json({"type": "message", "text": QUESTION})
    final = (await until_final(ws))[-1]
    await ws.close()
    other, _ = await hello(http, base, issued["token"], "vote-b")
    for message_id in (final["message_id"], "made-up-id"):
        await other.send_json({"type": "feedback", "message_id": message_id, "value": "down"})
        refused = await receive(other)
        assert (refused["type"], refused["code"]) == ("error", "unknown_message")
    await other.close()


async def test_a_resent_message_is_not_refused_by_the_rate_limit(http: ClientSession, base: str) -> None:
    issued = await session_for(http, base)
    ws, _ = await hello(http, base, issued["token"], "resend")
    for n in range(3):  # the whole burst
        await ws.send_json({"type": "message", "text": f"question {n}", "client_id": f"r{n}"})
    finals = 0
    while finals < 3:
        finals += (await receive(ws))["type"] == "final"
    await ws.send_json({"type": "message", "text": "question 0", "client_id": "r0"})  # after a reconnect
    with pytest.raises(asyncio.TimeoutError):
        await ws.receive(timeout=0.5)  # neither answered again nor refused
    await ws.close()


async def test_one_user_may_hold_only_so_many_sockets(http: ClientSession, base: str) -> None:
    issued = await session_for(http, base)

    async def attempt(n: int) -> tuple[ClientWebSocketResponse, dict[str, Any]]:
        ws = await http.ws_connect(f"{base}/ws")
        await ws.send_json({"type": "hello", "token": issued["token"], "conversation_id": f"s{n}"})
        return ws, await receive(ws, wait_s=30)  # ready, or the refusal

    answered = await asyncio.gather(*(attempt(n) for n in range(26)))  # all at once: none slips past the cap
    held = [ws for ws, first in answered if first["type"] == "ready"]
    refused = [ws for ws, first in answered if first.get("code") == "too_many_sockets"]
    assert (len(held), len(refused)) == (20, 6)
    for ws in refused:
        await ws.receive(timeout=10)
        assert ws.close_code == 4429
    await held.pop().close()
    again, _ = await hello(http, base, issued["token"], "s-again")  # a freed place can be taken
    for socket in [*held, again]:
        await socket.close()


async def test_a_long_streamed_answer_does_not_push_the_conversation_out(redis_client: Redis, key_prefix: str) -> None:
    log = RedisFrameLog(redis_client, key_prefix, keep=10, ttl_s=60)
    await log.append("u", "c", {"type": "message", "message_id": "m1", "text": "first question"})
    await log.append("u", "c", {"type": "final", "message_id": "m1", "reply": {"response": "first answer"}})
    await log.append("u", "c", {"type": "message", "message_id": "m2", "text": "second question"})
    for n in range(30):
        await log.append("u", "c", {"type": "token", "message_id": "m2", "text": f"w{n} "})
        if n == 20:  # a vote while it streams keeps the whole conversation too
            await log.append("u", "c", {"type": "feedback", "message_id": "m1", "value": "up"})
    assert len(await log.since("u", "c", 0)) == 34  # while it streams, every piece can be replayed
    await log.append("u", "c", {"type": "final", "message_id": "m2", "reply": {"response": "second"}})
    kept = await log.since("u", "c", 0)
    assert [(f["type"], f["message_id"]) for f in kept] == [
        ("message", "m1"),
        ("final", "m1"),
        ("message", "m2"),
        ("feedback", "m1"),
        ("final", "m2"),
    ]
    assert [f["seq"] for f in kept] == [1, 2, 3, 25, 35]
    assert await log.answered("u", "c", "m2")
    assert not await log.answered("u", "other", "m2")
    for n in range(12):  # past `keep`, the oldest frames go
        await log.append("u", "c", {"type": "message", "message_id": f"x{n}", "text": "more"})
    assert len(await log.since("u", "c", 0)) == 10


class HiccupLog(RedisFrameLog):
    """The real frame log, failing `failures` times on frames of type `kind`: before the append, or after it
    was made (Redis ran it, its answer was lost)."""

    def __init__(self, client: Redis, prefix: str, kind: str, failures: int, after: bool = False) -> None:
        super().__init__(client, prefix)
        self.kind, self.failures, self.after = kind, failures, after

    async def append(self, user_id: str, conversation_id: str, frame: dict[str, Any]) -> dict[str, Any]:
        if frame.get("type") == self.kind and self.failures > 0:
            self.failures -= 1
            if self.after:
                await super().append(user_id, conversation_id, frame)
            raise StoreUnavailable("redis did not answer")
        return await super().append(user_id, conversation_id, frame)


class OneAnswer:
    pending, max_pending = 0, 10

    async def ask(self, message: Message) -> AsyncIterator[ReplyEvent]:
        yield ReplyEvent(message.conversation, message.message_id, EventKind.TOKEN, text="You have 30 days.")
        reply = Reply("You have 30 days.", (), (), 0.9, "return_item", "customer", False)
        yield ReplyEvent(message.conversation, message.message_id, EventKind.FINAL, reply=reply)


@pytest.mark.parametrize(
    ("kind", "failures", "after", "outcome"),
    [("final", 2, False, "final"), ("final", 10, False, "error"), ("token", 1, True, "final")],
)
async def test_an_answer_outlasts_a_redis_hiccup_or_says_it_was_lost(
    redis_client: Redis, key_prefix: str, kind: str, failures: int, after: bool, outcome: str
) -> None:
    signer = SessionSigner(b"web-hiccup-test-secret-0123")
    log = HiccupLog(redis_client, f"{key_prefix}:{kind}{failures}", kind, failures, after)
    channel = WebChannel(OneAnswer(), log, None, signer, WebLimits())  # type: ignore[arg-type]

    async def route(request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        await channel.serve(request, socket)
        return socket

    app = web.Application()
    app.router.add_get("/ws", route)
    token, _ = signer.anonymous(600)
    async with TestServer(app, host="127.0.0.1") as server, ClientSession() as http:
        async with http.ws_connect(server.make_url("/ws")) as ws:
            await ws.send_json({"type": "hello", "token": token, "conversation_id": "c-hiccup"})
            assert (await receive(ws, 10))["type"] == "ready"
            await ws.send_json({"type": "message", "text": "how long for returns", "client_id": "k1"})
            seen = [await receive(ws, 10) for _ in range(3)]
            with pytest.raises(asyncio.TimeoutError):
                await ws.receive(timeout=0.5)  # nothing twice: a frame logged before its answer was lost is sent once
    assert [f["type"] for f in seen] == ["message", "token", outcome]
    if outcome == "error":  # not "searching" for good: the customer is told, and may ask again
        assert seen[-1]["code"] == "unavailable"
        assert seen[-1]["message_id"] == seen[0]["message_id"]
    else:
        assert seen[-1]["reply"]["response"] == "You have 30 days."


async def test_a_socket_that_ignores_the_wait_it_was_given_is_closed(http: ClientSession, base: str) -> None:
    """A refusal is not the client's fault (the widget sends again after `retry_after_s`); sending again
    before the wait is, and a socket that keeps at it is closed like any other misbehaving one."""
    issued = await session_for(http, base)
    ws, _ = await hello(http, base, issued["token"], "flood")
    for n in range(40):
        await ws.send_json({"type": "message", "text": f"spam number {n}", "client_id": f"f{n}"})
    refused = 0
    while True:
        frame = await ws.receive(timeout=60)
        if frame.type is not WSMsgType.TEXT:
            break
        refused += json.loads(frame.data).get("code") == "rate_limited"
    assert ws.close_code == 1008
    assert refused >= 20
