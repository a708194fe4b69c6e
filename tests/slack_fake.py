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

from aiohttp import web
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


@dataclass
class FakeSlack:
    calls: list[Call] = field(default_factory=list)
    # method -> statuses to answer before succeeding (429 carries Retry-After: 1)
    failures: dict[str, list[int]] = field(default_factory=dict)
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
        pending = self.failures.get(method)
        if pending:
            status = pending.pop(0)
            self.calls.append(Call(f"{method}!{status}", args))
            headers = {"Retry-After": "1"} if status == 429 else {}
            return web.json_response(
                {"ok": False, "error": "ratelimited" if status == 429 else "fatal_error"},
                status=status,
                headers=headers,
            )
        self.calls.append(Call(method, args))
        if method == "auth.test":
            return web.json_response(
                {
                    "ok": True,
                    "url": "https://fake.slack.test/",
                    "team": "Fake",
                    "user": "switchboard",
                    "team_id": TEAM,
                    "user_id": BOT_USER,
                    "bot_id": BOT_ID,
                }
            )
        if method in ("chat.postMessage", "chat.startStream"):
            ts = f"1700000{next(self._ts):03d}.000100"
            return web.json_response({"ok": True, "channel": args.get("channel"), "ts": ts, "message": {"ts": ts}})
        if method == "chat.update":
            return web.json_response({"ok": True, "channel": args.get("channel"), "ts": args.get("ts")})
        return web.json_response({"ok": True})

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
    app.router.add_post("/respond/{id}", fake.respond)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("/api/"))
    await server.close()


def signed(body: str, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": str(SignatureVerifier(secret).generate_signature(timestamp=ts, body=body)),
    }


def event_body(event: dict[str, Any], event_id: str) -> str:
    return json.dumps(
        {
            "token": "x",
            "team_id": TEAM,
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
