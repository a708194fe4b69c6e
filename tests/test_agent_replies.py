"""An agent's reply to a handed-over customer, end to end through the real server: the web widget's open
socket gets it live and a reload replays it, the mobile app keeps and pushes it, a REST customer without a
notice callback cannot be reached, and the agents' API refuses what it must (claimed, resolved, bad input)."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import ClientSession, ClientWebSocketResponse, web
from aiohttp.test_utils import TestServer, make_mocked_request
from cryptography.hazmat.primitives import serialization
from pydantic import SecretStr
from redis.asyncio import Redis

from adapters.push import preview
from bot.app import create_app
from bot.settings import FcmConfig, FileConfig, MobileAppConfig, Settings
from channels.agent_api import add_agent_routes
from channels.rest import RestLimits
from engine.types import ConversationRef
from memory.escalations import RedisEscalationStore
from memory.store import RedisMemoryStore
from tests.conftest import environment, own_prefix, start_ready
from tests.test_mobile import SECRET, SERVICE_KEY, Fcm, Phone, call, replies
from tests.test_web_socket import hello, receive, session_for, until_final

TOKEN = "agents-test-token-0123456789"  # the back end's: /api/messages
AUTH = {"Authorization": f"Bearer {TOKEN}"}
AGENT_TOKEN = "agents-desk-token-0123456789"  # the support team's: /api/escalations
AGENT = {"Authorization": f"Bearer {AGENT_TOKEN}"}
HUMAN = "I want to talk to a human"


@pytest.fixture(scope="module")
async def desk(settings: Settings, file_config: FileConfig) -> AsyncIterator[Phone]:
    """One server for the module: an API token, the web widget, and a mobile app pushing to a fake FCM."""
    fcm = Fcm()
    gateway = web.Application()
    gateway.router.add_post("/v1/projects/{project}/messages:send", fcm.send)
    gateway.router.add_post("/token", fcm.token)
    fake = TestServer(gateway, host="127.0.0.1")
    await fake.start_server()
    key = SERVICE_KEY.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    credentials = {
        "type": "service_account",
        "client_email": "switchboard@demo-project.iam.gserviceaccount.com",
        "private_key": key,
        "token_uri": str(fake.make_url("/token")),
    }
    config = own_prefix(file_config, "agents")
    fcm_config = FcmConfig(
        base_url=str(fake.make_url("")),
        project_id="demo-project",
        credentials_env="SB_TEST_AGENTS_FCM",
        allow_private=True,
    )
    mobile = config.mobile.model_copy(
        update={"apps": {"shop-app": MobileAppConfig(secret_env="SB_TEST_MOBILE_SECRET")}, "fcm": fcm_config}
    )
    config = config.model_copy(update={"mobile": mobile})
    with_token = settings.model_copy(update={"api_token": SecretStr(TOKEN), "agent_token": SecretStr(AGENT_TOKEN)})
    with environment({"SB_TEST_MOBILE_SECRET": SECRET, "SB_TEST_AGENTS_FCM": json.dumps(credentials)}):
        server = await start_ready(create_app(with_token, config))
        yield Phone(str(server.make_url("")).rstrip("/"), fcm, config)
        await server.close()
    await fake.close()


@pytest.fixture
async def http() -> AsyncIterator[ClientSession]:
    async with ClientSession() as session:
        yield session


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


async def send(
    http: ClientSession, desk: Phone, escalation_id: str, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    url = f"{desk.url}/api/escalations/{escalation_id}/replies"
    async with http.post(url, json=body, headers=AGENT if headers is None else headers) as response:
        return response.status, dict(await response.json())


async def escalations(http: ClientSession, desk: Phone, state: str) -> list[dict[str, Any]]:
    async with http.get(f"{desk.url}/api/escalations?state={state}&limit=500", headers=AGENT) as response:
        assert response.status == 200, await response.text()
        return list((await response.json())["escalations"])


async def record_of(http: ClientSession, desk: Phone, user: str, state: str = "open") -> dict[str, Any]:
    [record] = [r for r in await escalations(http, desk, state) if r["user_id"] == user]
    return record


async def test_a_web_customer_gets_the_agents_reply_live_once_and_on_reload(
    http: ClientSession, desk: Phone, redis: Redis
) -> None:
    issued = await session_for(http, desk.url)
    user, conversation = issued["user_id"], f"c-{uuid.uuid4().hex[:8]}"
    ws, _ = await hello(http, desk.url, issued["token"], conversation)
    await ws.send_json({"type": "message", "text": HUMAN, "client_id": "h1"})
    handed = (await until_final(ws))[-1]
    assert handed["type"] == "final"
    assert handed["reply"]["metadata"]["escalated"] is True
    record = await record_of(http, desk, user)
    assert (record["channel"], record["conversation_id"], record["state"]) == ("web", conversation, "open")
    assert record["question"] == HUMAN

    reply_id = uuid.uuid4().hex
    text = "Hello from the support team, I can help with that now."
    body = {"user_id": user, "agent": "U-dana", "agent_name": "Dana", "text": text, "reply_id": reply_id}
    status, sent = await send(http, desk, record["id"], body)
    assert (status, sent) == (201, {"status": "delivered", "reply_id": reply_id, "channel": "web", "claimed": True})
    live = await receive(ws, 10)
    assert (live["type"], live["seq"], live["message_id"]) == ("final", handed["seq"] + 1, f"agent-{reply_id}")
    assert live["reply"]["response"] == text
    assert live["reply"]["metadata"]["intent"] == "agent_reply"
    assert live["reply"]["metadata"]["agent"] == "Dana"
    assert live["reply"]["metadata"]["escalated"] is False
    assert not [r for r in await escalations(http, desk, "open") if r["id"] == record["id"]]
    claimed = await record_of(http, desk, user, "claimed")
    assert (claimed["claimed_by"], claimed["agent_replies"]) == ("U-dana", 1)

    # a retry (the same id, in the body or as Idempotency-Key) sends nothing again
    status, again = await send(http, desk, record["id"], body)
    assert (status, again["status"]) == (200, "duplicate")
    no_id = {k: v for k, v in body.items() if k != "reply_id"}
    status, again = await send(http, desk, record["id"], no_id, AGENT | {"Idempotency-Key": reply_id})
    assert (status, again["status"]) == (200, "duplicate")
    # the same id with another text: a help desk reusing ids; told, not passed off as "already sent"
    status, reused = await send(http, desk, record["id"], body | {"text": "A different reply."})
    assert (status, reused["error"]["code"]) == (409, "reply_id_reused")
    assert reply_id in reused["error"]["message"]
    # a reply sent before texts were recorded (an earlier version, within the ledger's week): a retry
    ledger = f"{desk.config.memory.prefix}:agent-replies:ledger:agent-reply%3A{record['id']}%3A{reply_id}"
    assert await redis.delete(f"{ledger}%3Atexts") == 1
    status, legacy = await send(http, desk, record["id"], body | {"text": "A different reply."})
    assert (status, legacy["status"]) == (200, "duplicate")
    with pytest.raises(asyncio.TimeoutError):
        await ws.receive(timeout=1.0)
    assert (await record_of(http, desk, user, "claimed"))["agent_replies"] == 1

    # a reload replays the conversation with the agent's reply in it, once
    reloaded, _ = await hello(http, desk.url, issued["token"], conversation, after=0)
    replayed = [await receive(reloaded, 10) for _ in range(3)]
    assert [f["type"] for f in replayed] == ["message", "final", "final"]
    assert replayed[-1] == live
    with pytest.raises(asyncio.TimeoutError):
        await reloaded.receive(timeout=0.5)
    await reloaded.close()
    await ws.close()
    prefix = desk.config.memory.prefix
    history = await RedisMemoryStore(redis, prefix=prefix).history(ConversationRef("web", conversation, user), 10)
    assert (history[-1].role, history[-1].text) == ("assistant", text)

    # the agent who holds it may write again; another agent may not; nobody may once it is resolved
    status, more = await send(http, desk, record["id"], body | {"reply_id": uuid.uuid4().hex, "text": "Done!"})
    assert (status, more["status"], more["claimed"]) == (201, "delivered", False)
    status, refused = await send(http, desk, record["id"], body | {"agent": "U-sam", "reply_id": uuid.uuid4().hex})
    assert (status, refused["error"]["code"]) == (409, "claimed")
    await RedisEscalationStore(redis, prefix=prefix).resolve(user, record["id"], "U-dana")
    status, refused = await send(http, desk, record["id"], body | {"reply_id": uuid.uuid4().hex})
    assert (status, refused["error"]["code"]) == (409, "resolved")
    resolved = await record_of(http, desk, user, "resolved")
    assert resolved["agent_replies"] == 2


async def test_a_customer_who_started_a_new_chat_is_pointed_back_to_the_agents_reply(
    http: ClientSession, desk: Phone
) -> None:
    # the reply used to sit in the conversation the widget had left: "delivered", and never seen
    issued = await session_for(http, desk.url)
    user, handed_over, newer = issued["user_id"], f"c-{uuid.uuid4().hex[:8]}", f"c-{uuid.uuid4().hex[:8]}"
    ws = await opened(http, desk.url, issued["token"], handed_over)
    await ws.send_json({"type": "message", "text": HUMAN, "client_id": "h1"})
    assert (await until_final(ws))[-1]["reply"]["metadata"]["escalated"] is True
    await ws.close()
    fresh = await opened(http, desk.url, issued["token"], newer)  # "New chat"
    # a background tab's reconnect to the old conversation (no `opened`) does not take the pointer
    background, _ = await hello(http, desk.url, issued["token"], handed_over, after=99)
    record = await record_of(http, desk, user)
    body = {"user_id": user, "agent": "U-dana", "agent_name": "Dana", "text": "Hi, Dana here. Still there?"}
    status, sent = await send(http, desk, record["id"], body | {"reply_id": "r-1"})
    assert (status, sent["status"]) == (201, "delivered")
    pointer = await receive(fresh, 10)
    assert (pointer["type"], pointer["conversation_id"], pointer["message_id"]) == (
        "elsewhere",
        handed_over,
        "agent-r-1",
    )
    back = await opened(http, desk.url, issued["token"], handed_over)  # what the widget then does
    replayed = [await receive(back, 10) for _ in range(3)]
    assert [f["type"] for f in replayed] == ["message", "final", "final"]
    assert replayed[-1]["reply"]["response"] == "Hi, Dana here. Still there?"
    # back in the conversation with the reply: the next one stays there, no pointer anywhere
    status, _ = await send(http, desk, record["id"], body | {"reply_id": "r-2", "text": "Found your order."})
    assert status == 201
    assert (await receive(back, 10))["reply"]["response"] == "Found your order."
    with pytest.raises(asyncio.TimeoutError):
        await fresh.receive(timeout=0.5)
    await fresh.close()
    await back.close()
    await background.close()


async def opened(http: ClientSession, base: str, token: str, conversation: str) -> ClientWebSocketResponse:
    """The widget's hello when the customer opens a conversation (the page, "New chat", a switch back)."""
    ws = await http.ws_connect(f"{base}/ws")
    await ws.send_json({"type": "hello", "token": token, "conversation_id": conversation, "after": 0, "opened": True})
    assert (await receive(ws))["type"] == "ready"
    return ws


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({}, 404, "not_found"),  # a well-formed id nobody has
        ({"id": "not-an-id"}, 404, "not_found"),
        ({"text": ""}, 400, "invalid_field"),
        ({"text": "   "}, 400, "invalid_field"),
        ({"text": None}, 400, "missing_field"),
        ({"agent": None}, 400, "missing_field"),
        ({"user_id": None}, 400, "missing_field"),
        ({"text": "x" * 4001}, 413, "text_too_long"),
        ({"headers": {}}, 401, "unauthorized"),
        ({"headers": {"Authorization": "Bearer wrong-token-0123456789"}}, 401, "unauthorized"),
        ({"headers": AUTH}, 401, "unauthorized"),  # the back end's token cannot write to customers as the team
    ],
)
async def test_bad_requests_are_refused_with_the_reason(
    http: ClientSession, desk: Phone, change: dict[str, Any], status: int, code: str
) -> None:
    escalation_id = str(change.pop("id", uuid.uuid4().hex))
    headers = change.pop("headers", None)
    body = {"user_id": f"nobody-{uuid.uuid4().hex[:8]}", "agent": "U-dana", "text": "hello"} | change
    answer = await send(http, desk, escalation_id, {k: v for k, v in body.items() if v is not None}, headers)
    assert (answer[0], answer[1]["error"]["code"]) == (status, code)


async def test_listing_needs_the_token_and_a_known_state(http: ClientSession, desk: Phone) -> None:
    async with http.get(f"{desk.url}/api/escalations") as response:
        assert response.status == 401
    async with http.get(f"{desk.url}/api/escalations", headers=AUTH) as response:
        assert response.status == 401, "the back end's token does not list the hand-overs"
    async with http.get(f"{desk.url}/api/escalations?state=lost", headers=AGENT) as response:
        assert (response.status, (await response.json())["error"]["code"]) == (400, "invalid_field")


async def test_a_rest_customer_without_a_callback_is_unreachable_and_stays_open(
    http: ClientSession, desk: Phone
) -> None:
    user = f"rest-{uuid.uuid4().hex[:8]}"
    message = {"user_id": user, "conversation_id": "rest-1", "text": "Can I talk to a real person?"}
    async with http.post(f"{desk.url}/api/messages", json=message, headers=AUTH) as response:
        assert response.status == 200
        assert (await response.json())["metadata"]["escalated"] is True
    record = await record_of(http, desk, user)
    status, refused = await send(http, desk, record["id"], {"user_id": user, "agent": "U-dana", "text": "Hello"})
    assert (status, refused["error"]["code"]) == (422, "unreachable")
    assert "callback_url" in refused["error"]["message"]
    still = await record_of(http, desk, user)
    assert (still["state"], still["claimed_by"], still["agent_replies"]) == ("open", "", 0)


async def test_a_mobile_customer_gets_the_agents_reply_kept_and_pushed(http: ClientSession, desk: Phone) -> None:
    user, conversation, device = f"m-{uuid.uuid4().hex[:8]}", "chat-agent", f"phone-{uuid.uuid4().hex[:8]}"
    registered = {"user_id": user, "platform": "android", "token": device}
    assert (await call(desk, "POST", "/mobile/v1/devices", registered))[0] == 201
    asked = {"user_id": user, "conversation_id": conversation, "text": HUMAN}
    assert (await call(desk, "POST", "/mobile/v1/messages", asked, f"key-{uuid.uuid4().hex}"))[0] == 202
    [handed] = await replies(desk, user, conversation)
    assert handed["reply"]["metadata"]["escalated"] is True
    record = await record_of(http, desk, user)
    assert (record["channel"], record["conversation_id"]) == ("mobile", f"shop-app:{conversation}")

    reply_id, text = uuid.uuid4().hex, "Hi, Dana here: your parcel is being traced now."
    body = {"user_id": user, "agent": "U-dana", "agent_name": "Dana", "text": text, "reply_id": reply_id}
    status, sent = await send(http, desk, record["id"], body)
    assert (status, sent["status"], sent["channel"]) == (201, "delivered", "mobile")
    _, kept = await replies(desk, user, conversation, count=2)
    assert kept["message_id"] == f"agent-{reply_id}"
    assert kept["reply"]["response"] == text
    assert kept["reply"]["metadata"]["intent"] == "agent_reply"
    assert kept["reply"]["metadata"]["agent"] == "Dana"
    for _ in range(100):
        pushed = [
            m for m in desk.fcm.received if m["token"] == device and m["data"]["message_id"] == kept["message_id"]
        ]
        if pushed:
            break
        await asyncio.sleep(0.1)
    [push] = pushed
    assert push["data"]["conversation_id"] == conversation
    assert push["notification"]["body"] == preview(text, 120)
    assert (await send(http, desk, record["id"], body))[1]["status"] == "duplicate"
    await asyncio.sleep(0.5)
    assert len(await replies(desk, user, conversation, count=2)) == 2


async def test_without_an_agent_token_only_this_machine_is_answered() -> None:
    app = web.Application()
    add_agent_routes(app, lambda: None, RestLimits())
    [route] = [
        r
        for r in app.router.routes()
        if r.method == "GET" and r.resource and r.resource.canonical == "/api/escalations"
    ]

    class Peer:
        def __init__(self, address: str) -> None:
            self.address = address

        def get_extra_info(self, name: str, default: Any = None) -> Any:
            return (self.address, 40000) if name == "peername" else default

    for address, status in (("203.0.113.7", 403), ("127.0.0.1", 503)):  # 503: no runtime here, past the door
        request = make_mocked_request(
            "GET", "/api/escalations", headers={"Host": "127.0.0.1:8080"}, transport=Peer(address)
        )
        response = await route.handler(request)
        assert isinstance(response, web.Response)
        assert response.status == status, address
        if status == 403:
            assert isinstance(response.body, bytes)
            assert json.loads(response.body)["error"]["code"] == "agent_token_required"


async def test_a_help_desk_claims_and_resolves_through_the_api(http: ClientSession, desk: Phone, redis: Redis) -> None:
    store = RedisEscalationStore(redis, desk.config.memory.prefix)
    user = f"desk-{uuid.uuid4().hex[:8]}"
    record = await store.open(ConversationRef("web", "c-desk", user), "m-1", "human_request", "a person please", "ok")

    async def step(name: str, agent: str) -> tuple[int, dict[str, Any]]:
        url = f"{desk.url}/api/escalations/{record.id}/{name}"
        async with http.post(url, json={"user_id": user, "agent": agent}, headers=AGENT) as response:
            return response.status, dict(await response.json())

    status, early = await step("resolve", "ann@desk.example")
    assert (status, early["error"]["code"]) == (409, "not_claimed")
    status, claimed = await step("claim", "ann@desk.example")
    assert (status, claimed["state"], claimed["claimed_by"]) == (200, "claimed", "ann@desk.example")
    assert (await step("claim", "ann@desk.example"))[0] == 200, "a retry of her own claim"
    status, taken = await step("claim", "bob@desk.example")
    assert (status, taken["error"]["code"]) == (409, "claimed")
    assert "ann@desk.example" in taken["error"]["message"], "says who holds it"
    status, not_yours = await step("resolve", "bob@desk.example")
    assert (status, not_yours["error"]["code"]) == (409, "claimed")
    status, resolved = await step("resolve", "ann@desk.example")
    assert (status, resolved["state"]) == (200, "resolved")
    assert (await step("resolve", "ann@desk.example"))[0] == 200, "a retry of her own resolve"
    status, late = await send(http, desk, record.id, {"user_id": user, "agent": "ann@desk.example", "text": "hi"})
    assert (status, late["error"]["code"]) == (409, "resolved")
    url = f"{desk.url}/api/escalations/{uuid.uuid4().hex}/claim"
    async with http.post(url, json={"user_id": user, "agent": "ann@desk.example"}, headers=AGENT) as response:
        assert response.status == 404
    async with http.post(
        f"{desk.url}/api/escalations/{record.id}/claim", json={"user_id": user}, headers=AUTH
    ) as response:
        assert response.status == 401, "the back end's token does not move hand-overs"
