"""Wiring of the mobile channel: app secrets from the environment, its job queue and worker, push."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from adapters.apns import ApnsPusher, ApnsSettings
from adapters.google_auth import AccessTokens, ServiceAccount
from adapters.http import FencedClient, HostRules
from adapters.push import FcmPusher, FcmSettings
from bot.runtime import Runtime
from bot.settings import FileConfig, SettingsError
from channels.mobile import MobileStores, MobileWork, Pusher
from memory.feedback import RedisFeedbackStore
from memory.jobs import JobWorker, RedisJobQueue
from memory.mobile import RedisDevices, RedisReplyLog, RedisRequestKeys

log = logging.getLogger(__name__)


def _secret(name: str, key: str) -> str:
    value = os.environ.get(name, "")
    if len(value) < 16:
        raise SettingsError(f"{name}: {'not set' if not value else 'shorter than 16 characters'} (the YAML's {key})")
    return value


def app_secrets(config: FileConfig) -> dict[str, str]:
    """Each configured app's signing secret; a missing or short one is a start-up error naming it."""
    return {name: _secret(app.secret_env, f"mobile.apps.{name}.secret_env") for name, app in config.mobile.apps.items()}


def apns_settings(config: FileConfig) -> ApnsSettings | None:
    apns = config.mobile.apns
    if apns is None:
        return None
    key = os.environ.get(apns.key_env, "")
    if "PRIVATE KEY" not in key:
        raise SettingsError(f"{apns.key_env}: not set to a .p8 key's PEM text (the YAML's mobile.apns.key_env)")
    return ApnsSettings(
        apns.base_url,
        apns.team_id,
        apns.key_id,
        key,
        apns.topic,
        title=config.company.assistant_name,
        preview_chars=config.mobile.push_preview_chars,
        ca_file=str(apns.ca_file) if apns.ca_file else None,
        allow_private=apns.allow_private,
    )


@dataclass(frozen=True, slots=True)
class Gateways:
    fcm: FcmSettings | None = None
    fcm_auth: ServiceAccount | str | None = None  # a service account, or a static access token
    apns: ApnsSettings | None = None


def gateways(config: FileConfig) -> Gateways:
    """The push gateways' settings and credentials, read (and checked) at start-up."""
    fcm = config.mobile.fcm
    if fcm is None:
        return Gateways(apns=apns_settings(config))
    settings = FcmSettings(
        fcm.base_url,
        fcm.project_id,
        title=config.company.assistant_name,
        preview_chars=config.mobile.push_preview_chars,
    )
    auth: ServiceAccount | str
    if fcm.credentials_env is not None:
        try:
            auth = ServiceAccount.from_json(os.environ.get(fcm.credentials_env, "") or "{}")
        except ValueError as error:
            raise SettingsError(f"{fcm.credentials_env}: {error} (the YAML's mobile.fcm.credentials_env)") from None
    else:
        auth = os.environ.get(str(fcm.token_env), "")
        if not auth:
            raise SettingsError(f"{fcm.token_env}: not set (the YAML's mobile.fcm.token_env)")
    return Gateways(settings, auth, apns_settings(config))


@dataclass
class MobileChannel:
    stores: MobileStores
    worker: JobWorker
    closers: list[Callable[[], Awaitable[None]]]
    running: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.running is None:
            self.running = asyncio.create_task(self.worker.run(), name="mobile-jobs")

    async def drain(self) -> None:
        """At shutdown: jobs in flight finish, the rest stay queued in Redis."""
        await self.worker.drain()
        if self.running is not None:
            await asyncio.gather(self.running, return_exceptions=True)
        for close in self.closers:
            await close()


def build_mobile(runtime: Runtime, push: Gateways, work: bool = True) -> MobileChannel:
    """`work=False` (serve --role web): take requests and queue them; `switchboard worker` answers them."""
    config, redis, prefix = runtime.config, runtime.redis, runtime.config.memory.prefix
    queue = RedisJobQueue(redis, f"{prefix}:mobile:jobs", reclaim_after_s=config.slack.job_reclaim_s)
    stores = MobileStores(
        queue=queue,
        keys=RedisRequestKeys(redis, prefix),
        devices=RedisDevices(redis, prefix),
        replies=RedisReplyLog(redis, prefix, config.mobile.keep_replies, int(config.memory.ttl_days * 86400)),
    )
    pushers: dict[str, Pusher] = {}
    closers: list[Callable[[], Awaitable[None]]] = []
    if push.fcm is not None and push.fcm_auth is not None:
        account = push.fcm_auth if isinstance(push.fcm_auth, ServiceAccount) else None
        hosts = {urlsplit(push.fcm.base_url).hostname or ""}
        if account is not None:
            hosts.add(urlsplit(account.token_uri).hostname or "")
        fenced = FencedClient(HostRules(frozenset(hosts), _private(config)))
        closers.append(fenced.close)
        tokens = AccessTokens(fenced, account, push.fcm_auth if isinstance(push.fcm_auth, str) else "")
        pushers["android"] = FcmPusher(push.fcm, fenced, tokens)
    if push.apns is not None:
        apple = ApnsPusher(push.apns)
        closers.append(apple.close)
        pushers["ios"] = apple
    handler = MobileWork(lambda: runtime.dispatcher, stores, pushers, RedisFeedbackStore(redis, prefix=prefix))
    block_ms = max(100, min(1000, int(config.memory.redis_timeout_s * 500)))
    worker = JobWorker(queue, handler.run, config.mobile.job_concurrency, block_ms)
    channel = MobileChannel(stores, worker, closers)
    if work:
        channel.start()
    return channel


def _private(config: FileConfig) -> bool:
    return config.mobile.fcm is not None and config.mobile.fcm.allow_private
