"""`create_app(settings)`: the aiohttp application. Its cleanup_ctx owns Redis, the models and the index.

The runtime loads in the background so /healthz answers at once; /readyz and /api/messages report 503
until the model, the index and Redis are ready.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Handler

from bot.runtime import Runtime
from bot.settings import FileConfig, Settings, is_loopback, load_file_config
from channels.rest import RestLimits, add_rest_routes, authorized, error_response
from engine.delivery import Dispatcher

log = logging.getLogger(__name__)


@dataclass
class RuntimeSlot:
    """Filled once loading ends (app state is frozen after start-up, so we mutate this instead)."""

    runtime: Runtime | None = None
    loading: asyncio.Task[Runtime] | None = None
    error: str | None = None


SLOT = web.AppKey("runtime_slot", RuntimeSlot)


def create_app(settings: Settings, config: FileConfig | None = None) -> web.Application:
    if config is None:
        config, _ = load_file_config(settings.config)
    token = settings.api_token.get_secret_value() if settings.api_token else None
    limits = RestLimits(config.server.max_text_chars, config.server.max_body_bytes, token)
    app = web.Application(client_max_size=limits.max_body_bytes, middlewares=[_json_errors])
    slot = app[SLOT] = RuntimeSlot()

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        loading = asyncio.create_task(Runtime.start(settings, config), name="runtime-start")
        slot.loading = loading
        loading.add_done_callback(lambda task: _on_loaded(slot, task))
        yield
        if not loading.done():
            loading.cancel()
        try:
            runtime = await loading
        except (asyncio.CancelledError, Exception):
            return
        await runtime.close()

    app.cleanup_ctx.append(lifecycle)

    def current_dispatcher() -> Dispatcher | None:
        return slot.runtime.dispatcher if slot.runtime is not None else None

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        runtime = slot.runtime
        if runtime is None:
            body: dict[str, object] = {
                "ready": False,
                "checks": {"model": False, "index": False, "redis": False},
            }
            # The start-up error names files and hosts: only for the machine itself or the API's callers.
            if slot.error and (is_loopback(request.remote or "") or (token and authorized(request, token))):
                body["error"] = slot.error
            elif slot.error:
                body["error"] = "start-up failed; details on loopback or with the API token"
            return web.json_response(body, status=503)
        checks = await runtime.readiness()
        ready = all(checks.values())
        return web.json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    add_rest_routes(app, current_dispatcher, limits)
    return app


def _on_loaded(slot: RuntimeSlot, task: asyncio.Task[Runtime]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        slot.error = str(error)
        log.error("Switchboard failed to start: %s", error)
        return
    slot.runtime = task.result()
    slot.runtime.watch_knowledge()


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own 4xx (unknown route, wrong method, body too large) as JSON, like ours."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as error:
        if error.status >= 400:
            code = "body_too_large" if error.status == 413 else error.reason.lower().replace(" ", "_")
            return error_response(code, error.reason, error.status)
        raise
