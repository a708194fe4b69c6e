"""Wiring of the mobile channel: app secrets from the environment, its job queue and worker, push."""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from urllib.parse import urlsplit

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


def fcm_settings(config: FileConfig) -> FcmSettings | None:
    fcm = config.mobile.fcm
    if fcm is None:
        return None
    token = os.environ.get(fcm.token_env, "")
    if not token:
        raise SettingsError(f"{fcm.token_env}: not set (the YAML's mobile.fcm.token_env)")
    return FcmSettings(fcm.base_url, fcm.project_id, token, title=config.company.assistant_name)


@dataclass
class MobileChannel:
    stores: MobileStores
    worker: JobWorker
    clients: list[FencedClient]
    running: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.running is None:
            self.running = asyncio.create_task(self.worker.run(), name="mobile-jobs")

    async def drain(self) -> None:
        """At shutdown: jobs in flight finish, the rest stay queued in Redis."""
        await self.worker.drain()
        if self.running is not None:
            await asyncio.gather(self.running, return_exceptions=True)
        for client in self.clients:
            await client.close()


def build_mobile(runtime: Runtime, fcm: FcmSettings | None, work: bool = True) -> MobileChannel:
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
    clients = []
    if fcm is not None:
        fenced = FencedClient(HostRules(frozenset({urlsplit(fcm.base_url).hostname or ""}), _private(config)))
        clients.append(fenced)
        pushers["android"] = FcmPusher(fcm, fenced)
    handler = MobileWork(lambda: runtime.dispatcher, stores, pushers, RedisFeedbackStore(redis, prefix=prefix))
    block_ms = max(100, min(1000, int(config.memory.redis_timeout_s * 500)))
    worker = JobWorker(queue, handler.run, config.mobile.job_concurrency, block_ms)
    channel = MobileChannel(stores, worker, clients)
    if work:
        channel.start()
    return channel


def _private(config: FileConfig) -> bool:
    return config.mobile.fcm is not None and config.mobile.fcm.allow_private
