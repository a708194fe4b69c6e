"""The HTTP server end to end over a real loopback socket, on SmolLM2, real FAISS and real Redis."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, web
from aiohttp.test_utils import TestServer
from pydantic import SecretStr
from redis.asyncio import Redis

from bot.app import create_app
from bot.settings import FileConfig, Settings
from engine.types import ConversationRef
from memory.store import RedisMemoryStore
from tests.conftest import start_ready

TOKEN = "test-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture(scope="module")
async def base_url(settings: Settings, file_config: FileConfig) -> AsyncIterator[str]:
    with_token = settings.model_copy(update={"api_token": SecretStr(TOKEN)})
    server = await start_ready(create_app(with_token, file_config))
    yield str(server.make_url(""))
    await server.close()


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


async def post(http: ClientSession, url: str, **kwargs: Any) -> tuple[int, dict[str, Any]]:
    kwargs["headers"] = AUTH | kwargs.get("headers", {})
    async with http.post(f"{url}/api/messages", **kwargs) as response:
        assert response.content_type == "application/json"
        return response.status, await response.json()


async def test_health_and_readiness(http: ClientSession, base_url: str) -> None:
    async with http.get(f"{base_url}/healthz") as response:
        assert response.status == 200
        assert (await response.json()) == {"status": "ok"}
    async with http.get(f"{base_url}/readyz") as response:
        body = await response.json()
        assert response.status == 200
        assert body == {"ready": True, "checks": {"model": True, "index": True, "redis": True, "web": True}}


async def test_a_question_gets_the_reply_shape_with_sources(http: ClientSession, base_url: str) -> None:
    status, body = await post(
        http, base_url, json={"user_id": "rest-u1", "text": "How long do I have to return an item?"}
    )
    assert status == 200
    assert set(body) == {"response", "sources", "actions", "metadata", "conversation_id", "message_id"}
    assert "30 days" in body["response"]
    assert set(body["metadata"]) == {"confidence", "intent", "user_role", "escalated", "language"}
    assert 0.0 <= body["metadata"]["confidence"] <= 1.0
    assert body["metadata"]["intent"] == "return_item"
    assert body["metadata"]["user_role"] == "customer"
    assert body["metadata"]["escalated"] is False
    assert body["actions"] == [{"type": "button", "label": "Start a return", "action": "start_return"}]
    assert "https://help.brightcart.example/returns/policy" in body["sources"]
    assert len(body["message_id"]) == 32


async def test_asking_for_a_person_is_handed_over_without_sources(http: ClientSession, base_url: str) -> None:
    status, body = await post(http, base_url, json={"user_id": "rest-u2", "text": "Can I talk to a real person?"})
    assert status == 200
    assert body["metadata"]["escalated"] is True
    assert body["metadata"]["intent"] == "talk_to_human"
    assert any(a["action"] == "escalate" for a in body["actions"])
    assert body["sources"] == []


async def test_questions_outside_the_knowledge_base_are_handed_over(http: ClientSession, base_url: str) -> None:
    status, body = await post(
        http, base_url, json={"user_id": "rest-u3", "text": "What is the boiling point of mercury on Mars?"}
    )
    assert status == 200
    assert body["metadata"]["escalated"] is True
    assert body["sources"] == []
    assert body["metadata"]["confidence"] < 0.5


async def test_conversation_history_is_kept_per_conversation(
    http: ClientSession, base_url: str, settings: Settings, file_config: FileConfig
) -> None:
    first = {"user_id": "rest-u4", "conversation_id": "c-77", "text": "How long do I have to return an item?"}
    await post(http, base_url, json=first)
    follow_up = first | {"text": "And for holiday purchases?"}
    _, body = await post(http, base_url, json=follow_up)
    assert body["conversation_id"] == "c-77"
    assert "January 31" in body["response"], "read with the question before it"
    _, elsewhere = await post(http, base_url, json=follow_up | {"conversation_id": "c-78"})
    assert elsewhere["metadata"]["escalated"] is True, "another conversation has no earlier question"
    client: Redis = Redis.from_url(
        settings.redis_url.get_secret_value() if settings.redis_url else "", decode_responses=True
    )
    store = RedisMemoryStore(client, prefix=file_config.memory.prefix)
    history = await store.history(ConversationRef("rest", "c-77", "rest-u4"), 10)
    await client.aclose()
    assert [e.role for e in history] == ["user", "assistant", "user", "assistant"]
    assert [history[0].text, history[2].text] == [first["text"], follow_up["text"]]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (b"{not json", 400, "invalid_json"),
        (b"[1, 2]", 400, "invalid_json"),
        (b'{"text": "hi"}', 400, "missing_field"),
        (b'{"user_id": "u"}', 400, "missing_field"),
        (b'{"user_id": 5, "text": "hi"}', 400, "invalid_field"),
        (b'{"user_id": "u", "text": ["hi"]}', 400, "invalid_field"),
        (b'{"user_id": "u", "text": "   "}', 400, "invalid_field"),
        (b'{"user_id": "bad id with spaces", "text": "hi"}', 400, "invalid_field"),
        (b'{"user_id": "u", "text": "hi", "conversation_id": 3}', 400, "invalid_field"),
        (b'{"user_id": "u", "text": "' + b"x" * 4001 + b'"}', 413, "text_too_long"),
        (b"\xff\xfe not utf-8", 400, "invalid_json"),
        (b'{"user_id": "u", "text": ' + b"[" * 20_000 + b"]" * 20_000 + b"}", 400, "invalid_json"),
        (b'{"user_id": "u", "text": "\\ud800"}', 400, "invalid_field"),
        (b'{"user_id": "u", "text": "\xf3\xa0\x81\x81\xe2\x80\x8b\xc2\xad"}', 400, "invalid_field"),
        (('{"user_id": "u", "text": "' + "\ufdfa" * 300 + '"}').encode(), 413, "text_too_long"),
        (b'{"user_id": "u", "text": "hi", "n": ' + b"1" * 5000 + b"}", 400, "invalid_json"),  # past the digit limit
        (b'{"user_id": "alice\\n", "text": "hi"}', 400, "invalid_field"),  # "alice" and "alice\n" are not one user
        (b'{"user_id": "u", "conversation_id": "c1\\n", "text": "hi"}', 400, "invalid_field"),
    ],
)
async def test_bad_input_gets_a_json_4xx(
    http: ClientSession, base_url: str, body: bytes, status: int, code: str
) -> None:
    got_status, got = await post(http, base_url, data=body, headers={"Content-Type": "application/json"})
    assert got_status == status
    assert got["error"]["code"] == code
    assert got["error"]["message"]


async def test_an_oversized_body_is_refused(http: ClientSession, base_url: str) -> None:
    status, body = await post(http, base_url, data=b"x" * 70_000, headers={"Content-Type": "application/json"})
    assert status == 413
    assert body["error"]["code"] == "body_too_large"


async def test_a_chunked_oversized_body_is_refused(http: ClientSession, base_url: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"y" * 8192

    status, body = await post(http, base_url, data=chunks(), headers={"Content-Type": "application/json"})
    assert status == 413
    assert body["error"]["code"] == "body_too_large"


async def test_a_body_arriving_in_several_delayed_reads_is_read_whole(base_url: str) -> None:
    """Remote clients send bodies in several TCP segments; the server must wait for all of them."""
    question = "How long do I have to return an item?"
    body = json.dumps({"user_id": "slow-sender", "text": question, "padding": "x" * 3000}).encode()
    host, port = base_url.removeprefix("http://").rstrip("/").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    head = (
        f"POST /api/messages HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        f"Authorization: Bearer {TOKEN}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode())
    for start in range(0, len(body), 400):
        writer.write(body[start : start + 400])
        await writer.drain()
        await asyncio.sleep(0.05)
    response = await reader.read()
    writer.close()
    status_line, _, rest = response.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 200"), response[:300]
    reply = json.loads(rest.partition(b"\r\n\r\n")[2])
    assert "30 days" in reply["response"]


async def test_unknown_routes_and_methods_are_json_errors(http: ClientSession, base_url: str) -> None:
    async with http.get(f"{base_url}/nope") as response:
        assert response.status == 404
        assert (await response.json())["error"]["code"] == "not_found"
    async with http.get(f"{base_url}/api/messages") as response:
        assert response.status == 405
        assert (await response.json())["error"]["code"] == "method_not_allowed"
        assert "POST" in response.headers["Allow"]  # which methods the route takes


CONCURRENT = [
    ("How long do I have to return an item?", "/returns/policy", "30 days"),
    ("When will my refund arrive on my card?", "/refunds/timeline", "refund"),
    ("Do you deliver to Japan?", "/shipping/international", "Japan"),
    ("I forgot my password", "/account/sign-in", "Forgot password"),
    ("how much is express shipping", "/shipping/options", "$"),
]


async def test_concurrent_questions_each_get_the_answer_to_their_own_question(
    http: ClientSession, base_url: str
) -> None:
    """Knowledge questions through the whole pipeline at once; two users share nothing, two messages of one
    conversation are answered separately; each reply must cite its own question's page."""
    asked = [(n, *case) for n, case in enumerate(CONCURRENT * 2)]
    results = await asyncio.gather(
        *(
            post(http, base_url, json={"user_id": f"conc-{n % 3}", "conversation_id": f"conc-{n % 3}", "text": text})
            for n, text, _, _ in asked
        ),
        post(http, base_url, json={"user_id": "conc-human", "text": "Connect me to an agent"}),
    )
    *answers, (_, human) = results
    for (_, text, page, fact), (status, body) in zip(asked, answers, strict=True):
        assert status == 200
        assert body["sources"], text
        assert page in body["sources"][0], (text, body["sources"])
        assert fact.lower() in body["response"].lower(), (text, body["response"])
    assert len({body["message_id"] for _, body in answers}) == len(asked)
    assert human["metadata"]["intent"] == "talk_to_human"
    assert human["metadata"]["escalated"] is True


@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token-0123456789", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x"],
)
async def test_messages_need_the_api_token(http: ClientSession, base_url: str, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    async with http.post(f"{base_url}/api/messages", json={"user_id": "u", "text": "hi"}, headers=headers) as r:
        assert r.status == 401
        assert r.headers["WWW-Authenticate"] == "Bearer"
        assert (await r.json())["error"]["code"] == "unauthorized"


async def test_pages_on_other_origins_may_not_call_the_api(http: ClientSession, base_url: str) -> None:
    raw = json.dumps({"user_id": "rest-csrf", "text": "hello"})
    # A "simple" cross-site POST (text/plain, no preflight) that a page the user visits could send:
    foreign = AUTH | {"Origin": "https://evil.example", "Content-Type": "text/plain"}
    async with http.post(f"{base_url}/api/messages", data=raw, headers=foreign) as r:
        assert (r.status, (await r.json())["error"]["code"]) == (403, "origin_not_allowed")
    async with http.post(f"{base_url}/api/actions", data=raw, headers=foreign | {"Origin": "null"}) as r:
        assert r.status == 403  # a sandboxed frame or a file:// page
    status, reply = await post(http, base_url, data=raw, headers={"Origin": base_url.rstrip("/")})
    assert status == 200, reply  # the server's own pages, and back ends (no Origin), may


async def test_a_redis_that_never_answers_leaves_the_server_unready_with_a_clear_error(
    settings: Settings, file_config: FileConfig, tmp_path: Path
) -> None:
    unreachable = settings.model_copy(
        update={"redis_url": SecretStr("redis://agent:hunter2-secret@127.0.0.1:1/0"), "home": tmp_path}
    )
    quick = file_config.model_copy(
        update={"memory": file_config.memory.model_copy(update={"startup_wait_s": 0.5, "redis_timeout_s": 0.2})}
    )
    server = TestServer(create_app(unreachable, quick), host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as session:
            for _ in range(100):
                async with session.get(server.make_url("/readyz")) as response:
                    body = await response.json()
                    assert response.status == 503
                if "error" in body:
                    break
                await asyncio.sleep(0.1)
            async with session.post(server.make_url("/api/messages"), json={"user_id": "u", "text": "hi"}) as r:
                assert r.status == 503
                assert r.headers["Retry-After"] == "5"
            # start-up is not retried in the process: liveness fails, so an orchestrator restarts it
            async with session.get(server.make_url("/healthz")) as response:
                assert (response.status, (await response.json())["status"]) == (503, "failed")
            # No token: a loopback-only server. A page whose host name was rebound to 127.0.0.1 reaches it under
            # that name: it may not speak as a user, nor read the start-up error.
            rebound = {"Host": f"shop.rebound.example:{server.port}"}
            async with session.get(server.make_url("/readyz"), headers=rebound) as response:
                assert (await response.json())["error"] == "start-up failed; details on loopback or with the API token"
            message = {"user_id": "u", "text": "hi"}
            async with session.post(server.make_url("/api/messages"), json=message, headers=rebound) as r:
                assert (r.status, (await r.json())["error"]["code"]) == (421, "host_not_allowed")
            for host in (f"localhost:{server.port}", f"[::1]:{server.port}", "127.0.0.1"):
                async with session.post(server.make_url("/api/messages"), json=message, headers={"Host": host}) as r:
                    assert r.status == 503, host  # addressed to loopback: on to "still loading"
    finally:
        await server.close()
    assert "did not answer within 0.5 s" in body["error"]
    assert "redis://agent:***@127.0.0.1:1/0" in body["error"]
    assert "hunter2" not in body["error"]


async def test_an_event_stream_is_sent_when_asked_for(http: ClientSession, base_url: str) -> None:
    body = {"user_id": "sse-1", "text": "how long have i got to send something back?"}
    headers = AUTH | {"Accept": "text/event-stream"}
    async with http.post(f"{base_url}/api/messages", json=body, headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        raw = (await response.read()).decode()
    events = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    kinds = [kind for kind, _ in events]
    assert kinds[-1] == "final"
    assert kinds.count("final") == 1
    assert "token" in kinds
    final = events[-1][1]
    assert set(final) >= {"response", "sources", "actions", "metadata", "conversation_id", "message_id"}
    streamed = "".join(data["text"] for kind, data in events if kind == "token")
    assert streamed.strip() == final["response"].strip()  # extract mode streams the answer's own words
    assert "30 days" in final["response"]


async def test_a_slow_answer_gets_keep_alives_and_still_arrives(monkeypatch: pytest.MonkeyPatch) -> None:
    """Between events a comment line goes out; waiting for the next event never cancels the answer."""
    from aiohttp import web
    from aiohttp.test_utils import TestServer

    from channels import rest
    from engine.types import Message, Reply, ReplyEvent

    monkeypatch.setattr(rest, "HEARTBEAT_S", 0.05)
    message = Message(ConversationRef("rest", "slow", "u"), "hi", "m-slow")
    reply = Reply("done at last", (), (), 1.0, "faq", "customer", escalated=False)

    async def slow_events() -> AsyncIterator[ReplyEvent]:
        await asyncio.sleep(0.4)  # eight heartbeats long, before even a status (a click that makes a refund)
        yield ReplyEvent.status(message, "searching")
        yield ReplyEvent.final(message, reply)

    async def handler(request: web.Request) -> web.StreamResponse:
        return await rest.stream_events(request, message, slow_events())

    app = web.Application()
    app.router.add_get("/slow", handler)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as http, http.get(server.make_url("/slow")) as response:
            raw = (await response.read()).decode()
    finally:
        await server.close()
    assert raw.count(": keep-alive") >= 3
    assert raw.rstrip().endswith('"message_id": "m-slow"}')
    assert "event: final" in raw
    assert "no_reply" not in raw


async def test_a_stream_opens_before_a_slow_first_event_and_a_full_server_refuses_with_429(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from channels import rest
    from engine import Dispatcher, Engine, LocalReplyBus
    from tests.test_terminal import Slow

    monkeypatch.setattr(rest, "HEARTBEAT_S", 0.05)
    slow = Slow()  # no event at all until released (a click that makes a refund emits only its final reply)
    dispatcher = Dispatcher(Engine([slow]), LocalReplyBus(), max_pending=1)
    app = web.Application()
    rest.add_rest_routes(app, lambda: dispatcher, rest.RestLimits())
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    body = {"user_id": "sse-user", "conversation_id": "c1", "text": "approve it"}
    sse = {"Accept": "text/event-stream"}
    try:
        async with ClientSession() as http:
            async with http.post(server.make_url("/api/messages"), json=body, headers=sse) as response:
                assert response.status == 200  # headers now, not when the first event comes
                assert (await response.content.readline()).startswith(b": keep-alive")
                async with http.post(server.make_url("/api/messages"), json=body, headers=sse) as refused:
                    assert refused.status == 429  # full: refused before anything is sent
                    assert refused.headers["Retry-After"]
                slow.release.set()
                raw = (await response.read()).decode()
    finally:
        await server.close()
    assert "event: final" in raw
