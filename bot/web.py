"""Wiring of the web channel: its policy from the YAML, its session secret and stores from the runtime."""

from __future__ import annotations

from bot.runtime import Runtime, redacting
from bot.settings import FileConfig, Settings, serialized_origin
from channels.addresses import is_loopback
from channels.web.routes import WebPolicy
from channels.web.sessions import SessionSigner
from channels.web.socket import WebChannel, WebLimits
from memory.feedback import RedisFeedbackStore
from memory.store import shared_secret
from memory.web import RedisFrameLog


def web_policy(settings: Settings, config: FileConfig) -> WebPolicy:
    web = config.web
    anonymous = web.anonymous == "on" or (web.anonymous == "auto" and is_loopback(config.server.host))
    return WebPolicy(
        anonymous=anonymous,
        allowed_origins=frozenset(serialized_origin(origin) for origin in web.allowed_origins),
        session_ttl_s=web.session_ttl_s,
        max_session_ttl_s=max(web.session_ttl_s, 30 * 86400),
        max_frame_bytes=web.max_frame_bytes,
        max_connections=web.max_connections,
        max_waiting_per_address=web.max_waiting_per_address,
        demo_page=web.demo_page,
        anonymous_per_minute=web.anonymous_per_minute,
        anonymous_burst=web.anonymous_burst,
        api_token=settings.api_token.get_secret_value() if settings.api_token else None,
    )


async def build_web(runtime: Runtime) -> WebChannel:
    settings, config, redis = runtime.settings, runtime.config, runtime.redis
    prefix = config.memory.prefix
    if settings.session_secret is not None:
        secret = settings.session_secret.get_secret_value().encode()
    else:
        secret = await shared_secret(redis, prefix, "web-session")
    limits = WebLimits(
        max_text_chars=config.server.max_text_chars,
        messages_per_minute=config.web.messages_per_minute,
        burst=config.web.burst,
        anonymous_messages_per_minute=config.web.anonymous_messages_per_minute,
        anonymous_messages_burst=config.web.anonymous_messages_burst,
        max_frame_bytes=config.web.max_frame_bytes,
    )
    frames = RedisFrameLog(redis, prefix, keep=config.web.keep_frames, ttl_s=config.web.history_ttl_s)
    channel = WebChannel(
        runtime.dispatcher,
        frames,
        RedisFeedbackStore(redis, prefix),
        SessionSigner(secret),
        limits,
        redacting(runtime.redactor),  # the log keeps a message as every store does: redacted
    )
    channel.start_following(frames.announced())  # notices and agents' replies logged by other processes
    return channel
