"""An in-process fake of Slack's Web API (the true edge), on a random loopback port, recording every call."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, quote

from aiohttp import WSMsgType, web
from aiohttp.test_utils import TestServer
from slack_sdk.signature import SignatureVerifier

BOT_USER = "UBOT"
BOT_ID = "BBOT"
TEAM = "T0001"
SECRET = "test-signing-secret-0123456789"
TOKEN = "xoxb-test-token"


@dataclass
class Call:
    method: str
    args: dict[str, Any]
    token: str = ""  # the bearer token the call was made with


@dataclass
class Workspace:
    """A workspace the fake lets Switchboard install into (OAuth): the code `oauth.v2.access` takes, and the
    bot token it hands back."""

    team: str
    code: str
    token: str
    bot_user: str = "UBOT2"


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    # method -> statuses to answer before succeeding (429 carries Retry-After: 1), or Slack error codes to
    # answer with (HTTP 200, "ok": false), as Slack does for a message gone or a channel archived
    failures: dict[str, list[int | str]] = field(default_factory=dict)
    # methods that refuse every call carrying blocks, as Slack does blocks it cannot render
    refuse_blocks: set[str] = field(default_factory=set)
    workspaces: list[Workspace] = field(default_factory=list)
    socket_url: str = ""  # where apps.connections.open sends a Socket Mode client
    api_url: str = ""  # the Web API base (…/api/); response URLs are …/respond/{id}
    socket_acks: list[dict[str, Any]] = field(default_factory=list)
    sockets: list[web.WebSocketResponse] = field(default_factory=list)
    replies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # conversations.replies, by thread ts
    _ts: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def of(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw = await request.text()
        if request.content_type == "application/json" and raw:
            args = json.loads(raw)
        else:
            args = dict(parse_qsl(raw))
        args = dict(request.query) | args  # some methods send their arguments in the query string
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        pending = self.failures.get(method)
        if pending:
            status = pending.pop(0)
            self.calls.append(Call(f"{method}!{status}", args, token))
            if isinstance(status, str):
                return web.json_response({"ok": False, "error": status})
            headers = {"Retry-After": "1"} if status == 429 else {}
            return web.json_response(
                {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"},
                status=status,
                headers=headers,
            )
        if method in self.refuse_blocks and args.get("blocks") not in (None, "", "[]", []):
            self.calls.append(Call(f"{method}!invalid_blocks", args, token))
            return web.json_response({"ok": False, "error": "invalid_blocks"})
        self.calls.append(Call(method, args, token))
        installed = next((w for w in self.workspaces if w.token == token), None)
        if method == "auth.test":
            return web.json_response(
                {
                    "ok": True,
                    "url": "https://fake.slack.test/",
                    "team": "Fake",
                    "user": "switchboard",
                    "team_id": installed.team if installed else TEAM,
                    "user_id": installed.bot_user if installed else BOT_USER,
                    "bot_id": BOT_ID,
                }
            )
        if method == "oauth.v2.access":
            return self._oauth_access(args)
        if method == "apps.connections.open":
            if not token.startswith("xapp-"):
                return web.json_response({"ok": False, "error": "not_allowed_token_type"})
            return web.json_response({"ok": True, "url": self.socket_url})
        if method in ("chat.postMessage", "chat.startStream"):
            ts = f"1700000{next(self._ts):03d}.000100"
            return web.json_response({"ok": True, "channel": args.get("channel"), "ts": ts, "message": {"ts": ts}})
        if method == "conversations.open":  # the DM channel with the given user
            return web.json_response({"ok": True, "channel": {"id": "D" + str(args.get("users", "")).upper()}})
        if method == "conversations.replies":
            return web.json_response({"ok": True, "messages": self.replies.get(str(args.get("ts")), [])})
        if method == "chat.update":
            return web.json_response({"ok": True, "channel": args.get("channel"), "ts": args.get("ts")})
        return web.json_response({"ok": True})

    def _oauth_access(self, args: dict[str, Any]) -> web.Response:
        found = next((w for w in self.workspaces if w.code == args.get("code")), None)
        if found is None:
            return web.json_response({"ok": False, "error": "invalid_code"})
        return web.json_response(
            {
                "ok": True,
                "access_token": found.token,
                "token_type": "bot",
                "scope": "app_mentions:read,chat:write,commands",
                "bot_user_id": found.bot_user,
                "app_id": "A1",
                "team": {"id": found.team, "name": f"Team {found.team}"},
                "enterprise": None,
                "is_enterprise_install": False,
                "authed_user": {"id": "UINSTALLER"},
            }
        )

    async def socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: says hello, then takes the client's acknowledgements of what `push` sends."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}})
        async for message in ws:
            if message.type == WSMsgType.TEXT:
                self.socket_acks.append(json.loads(message.data))
        return ws

    async def push(self, envelope_type: str, payload: dict[str, Any]) -> str:
        """Send an envelope down the newest Socket Mode connection; its id, for finding the ack."""
        envelope_id = f"env-{next(self._ts)}"
        await self.sockets[-1].send_json(
            {
                "envelope_id": envelope_id,
                "type": envelope_type,
                "payload": payload,
                "accepts_response_payload": envelope_type != "events_api",
                "retry_attempt": 0,
                "retry_reason": "",
            }
        )
        return envelope_id

    async def respond(self, request: web.Request) -> web.Response:
        self.calls.append(Call("response_url", await request.json()))
        return web.Response(text="ok")

    async def wait_for(self, check: Callable[[FakeSlack], bool], within_s: float = 30) -> None:
        deadline = time.monotonic() + within_s
        while not check(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out; calls: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.05)


async def start_fake() -> AsyncIterator[tuple[FakeSlack, str]]:
    fake = FakeSlack()
    app = web.Application()
    app.router.add_post("/api/{method}", fake.handle)
    app.router.add_get("/api/{method}", fake.handle)  # the SDK reads some methods (conversations.replies) by GET
    app.router.add_post("/respond/{id}", fake.respond)
    app.router.add_get("/socket", fake.socket)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    fake.socket_url = str(server.make_url("/socket")).replace("http://", "ws://")
    fake.api_url = str(server.make_url("/api/"))
    yield fake, str(server.make_url("/api/"))
    await server.close()


def signed(body: str, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": str(SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)),
    }


def event_body(event: dict[str, Any], event_id: str, team: str = TEAM) -> str:
    return json.dumps(
        {
            "token": "x",
            "team_id": team,
            "api_app_id": "A1",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": event,
        }
    )


def interaction_body(payload: dict[str, Any]) -> str:
    return "payload=" + quote(json.dumps(payload))


def click_body(
    channel: str, user: str, block_id: str, button: dict[str, Any], message: dict[str, Any] | None = None, **extra: Any
) -> str:
    """A signed-ready `block_actions` form body: `user` clicked `button` on `message` (None: an ephemeral one)."""
    container: dict[str, Any] = {"type": "message", "channel_id": channel}
    container |= {"message_ts": message["ts"]} if message else {"is_ephemeral": True}
    action = {"action_id": button["action_id"], "block_id": block_id, "value": button["value"], "type": "button"}
    payload = (
        {
            "type": "block_actions",
            "team": {"id": TEAM},
            "user": {"id": user},
            "api_app_id": "A1",
            "container": container,
            "channel": {"id": channel},
            "trigger_id": "9.9.9",
            "actions": [action | extra.pop("action", {})],
        }
        | ({"message": message} if message else {})
        | extra
    )
    return interaction_body(payload)
