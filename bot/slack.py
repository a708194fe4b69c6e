"""Wiring of the Slack channel: which settings switch it on, and its parts built on the runtime's Redis."""

from __future__ import annotations

from pydantic import SecretStr
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
    AsyncServerErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.runtime import Runtime
from bot.settings import Settings, SettingsError
from channels.slack.agents import AgentsChannel
from channels.slack.channel import SlackChannel, SlackOptions
from memory.feedback import RedisFeedbackStore
from memory.ledger import RedisIngressLedger, RedisThreadRegistry

DEFAULT_API_URL = "https://slack.com/api/"


def slack_status(settings: Settings) -> str | None:
    """None when Slack is off; raises SettingsError (one line) for a half configuration."""
    token, secret = _set(settings.slack_bot_token), _set(settings.slack_signing_secret)
    if _set(settings.slack_app_token) is not None:
        raise SettingsError("SLACK_APP_TOKEN: Socket Mode is not available yet; use the HTTP events URL")
    if token is None and secret is None:
        return None
    if token is None or secret is None:
        missing = "SLACK_BOT_TOKEN" if token is None else "SLACK_SIGNING_SECRET"
        present = "SLACK_SIGNING_SECRET" if token is None else "SLACK_BOT_TOKEN"
        raise SettingsError(f"{missing}: required with {present} (set both to turn Slack on, neither to leave it off)")
    return f"Slack: on at POST /slack/events (Web API {settings.slack_api_url or DEFAULT_API_URL})"


def _set(secret: SecretStr | None) -> SecretStr | None:
    """An empty variable counts as unset."""
    return secret if secret is not None and secret.get_secret_value().strip() else None


def web_client(settings: Settings) -> AsyncWebClient:
    token = settings.slack_bot_token.get_secret_value() if settings.slack_bot_token else None
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


def build_slack(settings: Settings, runtime: Runtime) -> SlackChannel:
    secret = settings.slack_signing_secret.get_secret_value() if settings.slack_signing_secret else ""
    app = AsyncApp(
        client=web_client(settings),
        signing_secret=secret,
        # thread history comes from the events we received (memory), never from conversations.replies
        attaching_conversation_kwargs_enabled=False,
    )
    config, redis = runtime.config, runtime.redis
    prefix = config.memory.prefix
    ledger = RedisIngressLedger(redis, prefix=f"{prefix}:slack", lease_s=2 * config.server.reply_deadline_s)
    agents = (
        # the feed's blocking read must end before the Redis client's socket timeout does
        AgentsChannel(
            app.client,
            config.slack.agents_channel,
            runtime.escalations,
            RedisIngressLedger(redis, prefix=f"{prefix}:slack", lease_s=30),
            block_ms=max(100, min(1000, int(config.memory.redis_timeout_s * 500))),
        )
        if config.slack.agents_channel
        else None
    )
    channel = SlackChannel(
        app,
        lambda: runtime.dispatcher,
        ledger,
        RedisThreadRegistry(redis, prefix=f"{prefix}:slack"),
        runtime.escalations,
        RedisFeedbackStore(redis, prefix=prefix),
        SlackOptions(
            ignore_bots=config.slack.ignore_bots,
            update_interval_s=config.slack.update_interval_s,
            status_text=config.slack.status_text,
            delivery_backoff_s=config.slack.delivery_backoff_s,
            streaming=config.slack.streaming,
        ),
        agents,
    )
    channel.start()
    return channel
