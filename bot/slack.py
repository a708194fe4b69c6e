"""Wiring of the Slack channel: which settings switch it on and how (HTTP events, Socket Mode, or
multi-workspace OAuth), and its parts built on the runtime's Redis for a process's role."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from pydantic import SecretStr
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime import Runtime
from bot.settings import FileConfig, Settings, SettingsError
from channels.slack.agents import AgentsChannel
from channels.slack.channel import SlackChannel
from channels.slack.clients import InstalledWorkspaces, OneWorkspace, WorkspaceClients
from channels.slack.notices import SlackNotifier
from channels.slack.payloads import Workspace
from channels.slack.work import SlackOptions, SlackWork
from memory.feedback import RedisFeedbackStore
from memory.jobs import JobWorker, RedisJobQueue
from memory.ledger import RedisDeliveryNotes, RedisIngressLedger, RedisThreadRegistry
from memory.slack_installations import RedisInstallationStore, RedisOAuthStateStore

DEFAULT_API_URL = "https://slack.com/api/"
MAX_DELIVERIES = 10  # a job handed out this often without finishing goes to the dead letters
# the bot scopes of manifest.yml, asked for by OAuth installs
BOT_SCOPES = ("app_mentions:read", "channels:history", "groups:history", "im:history", "chat:write", "commands")

Role = Literal["all", "web", "worker"]


class _TokenFromEnvironmentNotice(logging.Filter):
    """bolt reads SLACK_BOT_TOKEN itself and warns that our client (which carries it) wins: not news."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


logging.getLogger("slack_bolt.AsyncApp").addFilter(_TokenFromEnvironmentNotice())


@dataclass(frozen=True, slots=True)
class SlackMode:
    transport: Literal["http", "socket"]
    oauth: bool = False

    def describe(self, settings: Settings) -> str:
        api = settings.slack_api_url or DEFAULT_API_URL
        if self.transport == "socket":
            return f"Slack: on through Socket Mode (no public URL needed; Web API {api})"
        if self.oauth:
            return f"Slack: on at POST /slack/events, installs at GET /slack/install (multi-workspace; Web API {api})"
        return f"Slack: on at POST /slack/events (Web API {api})"


def slack_mode(settings: Settings) -> SlackMode | None:
    """None when Slack is off; raises SettingsError (one line) for a half or contradictory configuration."""
    token, secret = _set(settings.slack_bot_token), _set(settings.slack_signing_secret)
    app_token, client_secret = _set(settings.slack_app_token), _set(settings.slack_client_secret)
    client_id = (settings.slack_client_id or "").strip() or None
    _check_prefix(token, "SLACK_BOT_TOKEN", "xoxb-")
    _check_prefix(app_token, "SLACK_APP_TOKEN", "xapp-")
    if client_id is not None or client_secret is not None:
        if client_id is None or client_secret is None:
            missing = "SLACK_CLIENT_ID" if client_id is None else "SLACK_CLIENT_SECRET"
            raise SettingsError(f"{missing}: required for multi-workspace installs (set both client settings)")
        if token is not None:
            raise SettingsError("SLACK_BOT_TOKEN: leave it unset with SLACK_CLIENT_ID (each install brings its token)")
        if app_token is not None:
            raise SettingsError("SLACK_APP_TOKEN: Socket Mode apps cannot be installed by OAuth; use the events URL")
        if secret is None:
            raise SettingsError("SLACK_SIGNING_SECRET: required with SLACK_CLIENT_ID (events are signed)")
        return SlackMode("http", oauth=True)
    if app_token is not None:
        if token is None:
            raise SettingsError("SLACK_BOT_TOKEN: required with SLACK_APP_TOKEN (Socket Mode still posts with it)")
        return SlackMode("socket")
    if token is None and secret is None:
        return None
    if token is None or secret is None:
        missing = "SLACK_BOT_TOKEN" if token is None else "SLACK_SIGNING_SECRET"
        present = "SLACK_SIGNING_SECRET" if token is None else "SLACK_BOT_TOKEN"
        raise SettingsError(f"{missing}: required with {present} (set both to turn Slack on, neither to leave it off)")
    return SlackMode("http")


def slack_status(settings: Settings) -> str | None:
    mode = slack_mode(settings)
    return mode.describe(settings) if mode is not None else None


def _set(secret: SecretStr | None) -> SecretStr | None:
    """An empty variable counts as unset."""
    return secret if secret is not None and secret.get_secret_value().strip() else None


def _check_prefix(secret: SecretStr | None, name: str, prefix: str) -> None:
    if secret is not None and not secret.get_secret_value().startswith(prefix):
        raise SettingsError(f"{name}: expected a token starting with {prefix!r} (check which token you copied)")


def web_client(settings: Settings, token: str | None = None) -> AsyncWebClient:
    if token is None and settings.slack_bot_token is not None:
        token = settings.slack_bot_token.get_secret_value()
    return AsyncWebClient(
        token=token,
        base_url=settings.slack_api_url or DEFAULT_API_URL,
        # a 429 waits for Retry-After; 500/503 and dropped connections are retried with backoff
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=3),
            AsyncServerErrorRetryHandler(max_retry_count=3),
        ],
    )


def _signing_secret(settings: Settings) -> str:
    return settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""


def _bolt_app(settings: Settings, mode: SlackMode, runtime: Runtime) -> AsyncApp:
    secret = _signing_secret(settings)
    if not mode.oauth:
        return AsyncApp(
            client=web_client(settings),
            signing_secret=secret or None,
            request_verification_enabled=mode.transport == "http",
            # listeners only store a job, so the acknowledgement follows the job being stored
            process_before_response=True,
            # thread history comes from the events we received (memory), never from conversations.replies
            attaching_conversation_kwargs_enabled=False,
        )
    prefix = runtime.config.memory.prefix
    client_secret = settings.slack_client_secret.get_secret_value() if settings.slack_client_secret else ""
    oauth = AsyncOAuthSettings(
        client_id=(settings.slack_client_id or "").strip(),
        client_secret=client_secret,
        scopes=list(BOT_SCOPES),
        installation_store=RedisInstallationStore(runtime.redis, prefix=prefix),
        installation_store_bot_only=True,
        state_store=RedisOAuthStateStore(runtime.redis, prefix=prefix),
    )
    app = AsyncApp(
        client=web_client(settings),
        signing_secret=secret,
        oauth_flow=AsyncOAuthFlow(client=web_client(settings), settings=oauth),
        process_before_response=True,
        attaching_conversation_kwargs_enabled=False,
    )
    app.enable_token_revocation_listeners()  # an uninstall removes the workspace's token at once
    return app


def check_slack_config(mode: SlackMode, config: FileConfig) -> None:
    if mode.oauth and config.slack.agents_channel and not config.slack.agents_team:
        raise SettingsError("slack.agents_team: required with slack.agents_channel for multi-workspace installs")


def build_slack(settings: Settings, runtime: Runtime, role: Role = "all") -> SlackChannel:
    """`all`: take events and do the work here; `web`: take events, leave the work to `switchboard worker`
    processes; `worker`: only the work (and the agents' channel)."""
    mode = slack_mode(settings)
    if mode is None:
        raise SettingsError("Slack is off: set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET (README, Slack)")
    config, redis = runtime.config, runtime.redis
    check_slack_config(mode, config)
    app = _bolt_app(settings, mode, runtime)
    prefix = config.memory.prefix
    clients: WorkspaceClients = (
        InstalledWorkspaces(RedisInstallationStore(redis, prefix=prefix), lambda token: web_client(settings, token))
        if mode.oauth
        else OneWorkspace(app.client)
    )
    # blocking reads must end before the Redis client's socket timeout does
    block_ms = max(100, min(1000, int(config.memory.redis_timeout_s * 500)))
    does_work = role in ("all", "worker")
    agents = (
        AgentsChannel(
            clients,
            config.slack.agents_channel,
            runtime.escalations,
            RedisIngressLedger(redis, prefix=f"{prefix}:slack", lease_s=30),
            block_ms=block_ms,
            workspace=Workspace(team=config.slack.agents_team or ""),
        )
        if config.slack.agents_channel and does_work
        else None
    )
    options = SlackOptions(
        ignore_bots=config.slack.ignore_bots,
        update_interval_s=config.slack.update_interval_s,
        status_text=config.slack.status_text or "",
        delivery_backoff_s=config.slack.delivery_backoff_s,
        streaming=config.slack.streaming,
        agents_channel=config.slack.agents_channel or "",
    )
    threads = RedisThreadRegistry(redis, prefix=f"{prefix}:slack")
    work = SlackWork(
        clients,
        lambda: runtime.dispatcher,
        RedisIngressLedger(redis, prefix=f"{prefix}:slack", lease_s=2 * config.server.reply_deadline_s),
        threads,
        runtime.escalations,
        RedisFeedbackStore(redis, prefix=prefix),
        options,
        agents,
        runtime.redactor,
        # as long as the job may be handed out again (10 deliveries, one per job_reclaim_s)
        RedisDeliveryNotes(redis, prefix=prefix, keep_s=config.slack.job_reclaim_s * (MAX_DELIVERIES + 1)),
        runtime.agent_replies,
    )
    queue = RedisJobQueue(
        redis, f"{prefix}:slack:jobs", reclaim_after_s=config.slack.job_reclaim_s, max_deliveries=MAX_DELIVERIES
    )
    worker = JobWorker(queue, work.run, config.slack.job_concurrency, block_ms) if does_work else None
    socket = None
    if mode.transport == "socket" and role != "worker":
        app_token = settings.slack_app_token.get_secret_value() if settings.slack_app_token else ""
        socket = AsyncSocketModeHandler(app, app_token, web_client=web_client(settings))
    runtime.notifiers["slack"] = SlackNotifier(clients)  # notices and agents' replies, from any role
    signing_secret = _signing_secret(settings) if mode.transport == "http" else ""
    channel = SlackChannel(app, queue, threads, work, worker, agents, options, socket, signing_secret)
    channel.start()
    return channel
