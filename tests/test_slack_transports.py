"""How Slack reaches Switchboard besides one workspace's HTTP events: Socket Mode, multi-workspace OAuth
installs, and a web tier that only acknowledges and queues while separate workers answer."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any
from urllib.parse import urlencode

import pytest
from aiohttp import ClientSession
from pydantic import SecretStr
from redis.asyncio import Redis
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.app import create_app
from bot.runtime import Runtime
from bot.settings import FileConfig, Settings, SettingsError
from bot.slack import build_slack, slack_mode
from channels.slack.channel import SlackChannel
from channels.slack.clients import InstalledWorkspaces, OneWorkspace
from channels.slack.work import SlackWork
from engine.replies import reply_text
from memory.escalations import RedisEscalationStore
from memory.feedback import RedisFeedbackStore
from memory.jobs import RedisJobQueue
from memory.ledger import RedisIngressLedger, RedisThreadRegistry
from memory.slack_installations import RedisInstallationStore
from tests.conftest import own_prefix, start_ready
from tests.slack_fake import SECRET, TOKEN, FakeSlack, Workspace, event_body, signed
from tests.slack_fake import start_fake as _start_fake

QUESTION = "how long have i got to send something back?"


@pytest.fixture(scope="module")
async def slack() -> AsyncIterator[tuple[FakeSlack, str]]:
    async for started in _start_fake():
        yield started


def dm(channel: str, user: str, text: str = QUESTION) -> dict[str, Any]:
    ts = f"{asyncio.get_running_loop().time():.6f}"
    return {"type": "message", "channel": channel, "channel_type": "im", "user": user, "text": text, "ts": ts}


def new_channel() -> str:
    return "D" + uuid.uuid4().hex[:8].upper()


def answered(fake: FakeSlack, channel: str) -> list[Any]:
    """The final replies (blocks) that reached `channel`, with the token each was sent with."""
    return [c for c in fake.of("chat.update") if c.args.get("channel") == channel and c.args.get("blocks")]


async def post(url: str, body: str, content_type: str = "application/json") -> tuple[int, str]:
    async with ClientSession() as session:
        headers = {"Content-Type": content_type} | signed(body)
        async with session.post(f"{url}/slack/events", data=body.encode(), headers=headers) as response:
            return response.status, await response.text()


# --- Socket Mode ----------------------------------------------------------------------------------------------


async def test_socket_mode_takes_events_and_commands_over_slacks_websocket(
    slack: tuple[FakeSlack, str], settings: Settings, file_config: FileConfig
) -> None:
    fake, api_url = slack
    socket_settings = settings.model_copy(
        update={
            "slack_bot_token": SecretStr(TOKEN),
            "slack_app_token": SecretStr("xapp-1-A1-test"),
            "slack_api_url": api_url,
        }
    )
    server = await start_ready(create_app(socket_settings, own_prefix(file_config, "socket")))
    try:
        await fake.wait_for(lambda f: bool(f.sockets))
        [opened] = fake.of("apps.connections.open")
        assert opened.token == "xapp-1-A1-test", "the connection is opened with the app-level token"
        channel = new_channel()
        envelope = await fake.push("events_api", json.loads(event_body(dm(channel, "U21"), "EvSocket1")))
        await fake.wait_for(lambda f: any(a.get("envelope_id") == envelope for a in f.socket_acks))
        await fake.wait_for(lambda f: bool(answered(f, channel)))
        assert "30 days" in json.dumps(answered(fake, channel)[-1].args["blocks"])

        command = {"command": "/support", "text": "can i return a gift?", "team_id": "T0001", "channel_id": channel}
        command |= {"user_id": "U21", "response_url": api_url.replace("/api/", "/respond/sock"), "trigger_id": "t1"}
        envelope = await fake.push("slash_commands", command)
        await fake.wait_for(lambda f: any(a.get("envelope_id") == envelope for a in f.socket_acks))
        ack = next(a for a in fake.socket_acks if a.get("envelope_id") == envelope)
        assert ack["payload"]["text"] == "Searching the help centre…", "the command's acknowledgement carries its reply"
        await fake.wait_for(lambda f: bool(f.of("response_url")))

        status, _ = await post(str(server.make_url("")), event_body(dm(new_channel(), "U22"), "EvHttp1"))
        assert status == 404, "no public events URL in Socket Mode"
    finally:
        await server.close()
    assert fake.sockets[-1].closed, "the Socket Mode connection is closed at shutdown"


def test_socket_mode_and_oauth_settings_that_cannot_work_are_one_line_errors(settings: Settings) -> None:
    def mode(**values: Any) -> Any:
        return slack_mode(settings.model_copy(update=values))

    assert mode(slack_bot_token=SecretStr(TOKEN), slack_app_token=SecretStr("xapp-1")).transport == "socket"
    oauth = mode(slack_client_id="1.2", slack_client_secret=SecretStr("s"), slack_signing_secret=SecretStr(SECRET))
    assert oauth.oauth
    cases: dict[str, dict[str, Any]] = {
        "SLACK_BOT_TOKEN: required with SLACK_APP_TOKEN": {"slack_app_token": SecretStr("xapp-1")},
        "SLACK_APP_TOKEN: expected a token starting with 'xapp-'": {
            "slack_bot_token": SecretStr(TOKEN),
            "slack_app_token": SecretStr("xoxb-wrong"),
        },
        "SLACK_CLIENT_SECRET: required": {"slack_client_id": "1.2"},
        "SLACK_SIGNING_SECRET: required with SLACK_CLIENT_ID": {
            "slack_client_id": "1.2",
            "slack_client_secret": SecretStr("s"),
        },
        "SLACK_BOT_TOKEN: leave it unset with SLACK_CLIENT_ID": {
            "slack_client_id": "1.2",
            "slack_client_secret": SecretStr("s"),
            "slack_signing_secret": SecretStr(SECRET),
            "slack_bot_token": SecretStr(TOKEN),
        },
    }
    for expected, values in cases.items():
        with pytest.raises(SettingsError) as error:
            mode(**values)
        assert str(error.value).startswith(expected)
        assert "\n" not in str(error.value)


# --- multi-workspace OAuth ------------------------------------------------------------------------------------


async def install(session: ClientSession, url: str, code: str, replays: int = 0) -> list[int]:
    """Starts an install and comes back from Slack with `code` (then `replays` more times, same state)."""
    async with session.get(f"{url}/slack/install") as page:
        assert page.status == 200
        html = await page.text()
        cookie = page.headers["Set-Cookie"].split(";")[0]
    state = re.search(r"state=([\w-]+)", html)
    assert state is not None
    assert "client_id=111.222" in html
    query = urlencode({"code": code, "state": state.group(1)})
    statuses = []
    for _ in range(1 + replays):
        async with session.get(f"{url}/slack/oauth_redirect?{query}", headers={"Cookie": cookie}) as done:
            statuses.append(done.status)
    return statuses


async def test_each_installed_workspace_is_answered_with_its_own_token_until_it_uninstalls(
    slack: tuple[FakeSlack, str], settings: Settings, file_config: FileConfig, redis_client: Redis
) -> None:
    fake, api_url = slack
    fake.workspaces += [Workspace("T0A", "code-a", "xoxb-team-a"), Workspace("T0B", "code-b", "xoxb-team-b")]
    oauth_settings = settings.model_copy(
        update={
            "slack_client_id": "111.222",
            "slack_client_secret": SecretStr("client-secret-0123"),
            "slack_signing_secret": SecretStr(SECRET),
            "slack_api_url": api_url,
        }
    )
    config = own_prefix(file_config, "oauth")
    server = await start_ready(create_app(oauth_settings, config))
    url = str(server.make_url(""))
    try:
        async with ClientSession() as session:
            assert await install(session, url, "code-a") == [200]
            first, replayed = await install(session, url, "code-b", replays=1)
            assert first == 200
            assert replayed >= 400, "a state is good for one redirect only"
            [status] = await install(session, url, "not-a-code")
            assert status >= 400, "a failed exchange installs nothing"
            async with session.get(f"{url}/slack/oauth_redirect?code=code-a&state=forged") as forged:
                assert forged.status >= 400, "a redirect without the browser's state is refused"

        channels = {"T0A": new_channel(), "T0B": new_channel()}
        for team, channel in channels.items():
            assert (await post(url, event_body(dm(channel, "U31"), f"Ev{team}", team=team)))[0] == 200
        for channel in channels.values():
            await fake.wait_for(lambda f, channel=channel: bool(answered(f, channel)))  # type: ignore[misc]
        tokens = {team: {c.token for c in fake.calls if c.args.get("channel") == ch} for team, ch in channels.items()}
        assert tokens == {"T0A": {"xoxb-team-a"}, "T0B": {"xoxb-team-b"}}

        uninstall = {"type": "app_uninstalled"}
        assert (await post(url, event_body(uninstall, "EvUninstallB", team="T0B")))[0] == 200
        installs = f"{config.memory.prefix}:slack:install:none-"
        assert await redis_client.hexists(installs + "T0A", "bot")
        assert not await redis_client.exists(installs + "T0B"), "the uninstalled workspace's token is gone"
        later = new_channel()
        await post(url, event_body(dm(later, "U32"), "EvAfterUninstall", team="T0B"))
        await asyncio.sleep(1.5)
        assert not [c for c in fake.calls if c.args.get("channel") == later], "an uninstalled workspace gets nothing"

        revoked = {"type": "tokens_revoked", "tokens": {"oauth": [], "bot": ["UBOTA"]}}
        assert (await post(url, event_body(revoked, "EvRevokedA", team="T0A")))[0] == 200
        for _ in range(50):
            if not await redis_client.hexists(installs + "T0A", "bot"):
                break
            await asyncio.sleep(0.1)
        kept = await redis_client.hgetall(installs + "T0A")
        assert "bot" not in kept
        assert "xoxb-team-a" not in json.dumps(kept), "a revoked token is kept nowhere, not in the installer's record"
    finally:
        await server.close()


# --- web tier and workers -------------------------------------------------------------------------------------


async def test_a_web_process_only_queues_and_a_worker_process_answers(
    slack: tuple[FakeSlack, str], settings: Settings, file_config: FileConfig, redis_client: Redis
) -> None:
    fake, api_url = slack
    http = settings.model_copy(
        update={
            "slack_bot_token": SecretStr(TOKEN),
            "slack_signing_secret": SecretStr(SECRET),
            "slack_api_url": api_url,
        }
    )
    config = own_prefix(file_config, "split")
    web = await start_ready(create_app(http, config, role="web"))
    channel = new_channel()
    try:
        status, _ = await post(str(web.make_url("")), event_body(dm(channel, "U41"), "EvSplit1"))
        assert status == 200
        await asyncio.sleep(1.0)
        assert not [c for c in fake.calls if c.args.get("channel") == channel], "the web process answers nothing"
        assert await redis_client.xlen(f"{config.memory.prefix}:slack:jobs") == 1, "the event waits, stored"

        runtime = await Runtime.start(http, config)
        worker = build_slack(http, runtime, role="worker")
        try:
            await fake.wait_for(lambda f: bool(answered(f, channel)))
        finally:
            await worker.drain()
            await runtime.close()
    finally:
        await web.close()
    assert await redis_client.xlen(f"{config.memory.prefix}:slack:jobs") == 0, "the finished job is gone"


async def test_an_event_that_cannot_be_stored_is_not_acknowledged(settings: Settings) -> None:
    down: Redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)

    async def authorize(**_: Any) -> AuthorizeResult:
        return AuthorizeResult(enterprise_id=None, team_id="T0001", bot_token=TOKEN, bot_user_id="UBOT", bot_id="BBOT")

    app = AsyncApp(signing_secret=SECRET, authorize=authorize, process_before_response=True)
    ledger = RedisIngressLedger(down)
    threads = RedisThreadRegistry(down)
    work = SlackWork(
        OneWorkspace(app.client), lambda: None, ledger, threads, RedisEscalationStore(down), RedisFeedbackStore(down)
    )
    SlackChannel(app, RedisJobQueue(down, "sbtest-down:jobs"), threads, work)

    async def dispatch(body: str, content_type: str) -> tuple[int, str]:
        headers: dict[str, str | Sequence[str]] = {"content-type": content_type}
        headers |= {k.lower(): v for k, v in signed(body).items()}
        response = await app.async_dispatch(AsyncBoltRequest(body=body, headers=headers))
        return response.status, response.body

    status, _ = await dispatch(event_body(dm(new_channel(), "U51"), "EvDown1"), "application/json")
    assert status >= 500, "Slack retries what was not stored"
    command = urlencode({"command": "/escalate", "text": "", "team_id": "T0001", "user_id": "U51", "channel_id": "C1"})
    status, text = await dispatch(command, "application/x-www-form-urlencoded")
    assert status == 200
    assert text == reply_text("queue_down", "en"), "the user is told, not promised a person"
    await down.aclose()


async def test_a_job_from_a_workspace_uninstalled_since_is_dropped(
    redis_client: Redis, key_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = RedisInstallationStore(redis_client, prefix=key_prefix)
    made: list[str] = []

    def make_client(token: str) -> AsyncWebClient:
        made.append(token)
        return AsyncWebClient(token=token, base_url="http://127.0.0.1:1/")

    work = SlackWork(
        InstalledWorkspaces(store, make_client),
        lambda: None,
        RedisIngressLedger(redis_client, prefix=key_prefix),
        RedisThreadRegistry(redis_client, prefix=key_prefix),
        RedisEscalationStore(redis_client, prefix=key_prefix),
        RedisFeedbackStore(redis_client, prefix=key_prefix),
    )
    job = {"workspace": {"team": "T0GONE"}, "event": dm(new_channel(), "U61")}
    with caplog.at_level(logging.WARNING):
        assert await work.run("answer", job) is True, "finished: nothing will ever answer it"
    assert "not installed in Slack workspace T0GONE" in caplog.text
    assert made == [], "no client, no token, no call"
