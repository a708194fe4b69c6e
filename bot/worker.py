"""`switchboard worker`: runs the Slack work (answers, clicks, the agents' channel) and the mobile apps'
messages that `serve --role web` processes acknowledged and queued in Redis. Start as many as the model
machines allow; SIGTERM or Ctrl-C finishes the jobs in flight and leaves the rest queued for the others."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

from bot.mobile import app_secrets, build_mobile, gateways
from bot.runtime import Runtime
from bot.settings import FileConfig, Settings, SettingsError
from bot.slack import build_slack, slack_mode

SHARED_REDIS = "needs REDIS_URL: the web tier and its workers share one Redis server (the embedded one is per process)"


def require_shared_redis(settings: Settings, command: str) -> None:
    if settings.redis_url is None:
        raise SettingsError(f"{command}: {SHARED_REDIS}")


async def run_worker(settings: Settings, config: FileConfig, progress: Callable[[str], None]) -> int:
    mobile_apps = app_secrets(config)
    if slack_mode(settings) is None and not mobile_apps:
        raise SettingsError(
            "worker: Slack and the mobile channel are off, so there is no queued work (README: Slack, Mobile)"
        )
    require_shared_redis(settings, "worker")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runtime = await Runtime.start(settings, config, progress)
    code = 0
    try:
        channel = build_slack(settings, runtime, role="worker") if slack_mode(settings) is not None else None
        mobile = build_mobile(runtime, gateways(config)) if mobile_apps else None
        progress("worker ready: running queued work until SIGTERM")
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 5)
            if channel is not None and not channel.healthy():  # a loop that should never end did: restart us
                progress("a Slack loop stopped (see the log); exiting")
                code = 1
                break
        progress("stopping: finishing the jobs in flight")
        if channel is not None:
            await channel.drain()
        if mobile is not None:
            await mobile.drain()
    finally:
        await runtime.close()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(ValueError, RuntimeError):
                loop.remove_signal_handler(signum)
    return code
