"""`create_app(settings)`: the aiohttp application. Its cleanup_ctx owns Redis, the models and the index.

The runtime loads in the background so /healthz answers at once; /readyz and /api/messages report 503
until the model, the index and Redis are ready.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib import metadata

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from bot.mobile import Gateways, MobileChannel, app_secrets, build_mobile, gateways
from bot.runtime import Runtime
from bot.settings import FileConfig, Settings, load_file_config
from bot.slack import Role, build_slack, check_slack_config, slack_mode
from bot.web import build_web, web_policy
from channels.addresses import forwarded_for, is_loopback, networks
from channels.agent_api import AgentDesk, add_agent_routes
from channels.mobile import add_mobile_routes
from channels.openapi import add_openapi_route
from channels.rest import RestLimits, add_rest_routes, addressed_to_loopback, authorized, error_response
from channels.slack.channel import SlackChannel
from channels.web.routes import add_web_routes
from channels.web.socket import WebChannel
from channels.webhooks import add_webhook_routes
from engine.delivery import Dispatcher

log = logging.getLogger(__name__)


@dataclass
class RuntimeSlot:
    """Filled once loading ends (app state is frozen after start-up, so we mutate this instead)."""

    runtime: Runtime | None = None
    loading: asyncio.Task[Runtime] | None = None
    error: str | None = None
    slack: SlackChannel | None = None
    mobile: MobileChannel | None = None
    web: WebChannel | None = None
    starting: set[asyncio.Task[None]] = field(default_factory=set)


SLOT = web.AppKey("runtime_slot", RuntimeSlot)


def create_app(settings: Settings, config: FileConfig | None = None, role: Role = "all") -> web.Application:
    """`role="web"` leaves Slack's work (answers, clicks) to `switchboard worker` processes."""
    if config is None:
        config, _ = load_file_config(settings.config)
    token = settings.api_token.get_secret_value() if settings.api_token else None
    limits = RestLimits(config.server.max_text_chars, config.server.max_body_bytes, token)
    slack = slack_mode(settings)  # a half Slack configuration is an error here
    if slack is not None:
        check_slack_config(slack, config)
    mobile_apps = app_secrets(config)  # a missing app secret is an error here
    push = gateways(config) if mobile_apps and role != "web" else Gateways()  # the web tier never pushes
    middlewares: list[Middleware] = [_json_errors]
    if config.server.trusted_proxies:
        middlewares.append(forwarded_for(networks(config.server.trusted_proxies)))
    app = web.Application(client_max_size=limits.max_body_bytes, middlewares=middlewares)
    slot = app[SLOT] = RuntimeSlot()

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        loading = asyncio.create_task(Runtime.start(settings, config), name="runtime-start")
        slot.loading = loading
        loading.add_done_callback(lambda task: _on_loaded(slot, task, settings if slack else None, role))
        if mobile_apps:
            loading.add_done_callback(lambda task: _start_mobile(slot, task, push, work=role != "web"))
        loading.add_done_callback(lambda task: _start_web(slot, task))
        yield
        for starting in slot.starting:
            starting.cancel()
        if not loading.done():
            loading.cancel()
        try:
            runtime = await loading
        except (asyncio.CancelledError, Exception):
            return
        if slot.slack is not None:
            await slot.slack.drain()  # answers already acknowledged to Slack are finished first
        if slot.mobile is not None:
            await slot.mobile.drain()
        if slot.web is not None:
            await slot.web.drain()
        await runtime.close()

    app.cleanup_ctx.append(lifecycle)

    async def close_sockets(app: web.Application) -> None:
        """Before aiohttp waits for open connections (a widget's socket never ends by itself): the answers in
        flight are finished, then each socket is closed with 1001, so the widget reconnects at once."""
        if slot.web is not None:
            await slot.web.drain()

    app.on_shutdown.append(close_sockets)

    def current_dispatcher() -> Dispatcher | None:
        return slot.runtime.dispatcher if slot.runtime is not None else None

    def shown_the_error(request: web.Request) -> bool:
        """The start-up error names files and hosts: only for the machine itself or the API's callers."""
        if token is not None and authorized(request, token):
            return True
        return is_loopback(request.remote or "") and addressed_to_loopback(request)

    async def healthz(request: web.Request) -> web.Response:
        # a start-up that failed does not retry itself: liveness fails so an orchestrator restarts the process
        if slot.error:
            return web.json_response({"status": "failed", "error": "start-up failed; see /readyz"}, status=503)
        return web.json_response({"status": "ok"})

    async def readyz(request: web.Request) -> web.Response:
        runtime = slot.runtime
        if runtime is None:
            body: dict[str, object] = {
                "ready": False,
                "checks": {"model": False, "index": False, "redis": False},
            }
            if slot.error and shown_the_error(request):
                body["error"] = slot.error
            elif slot.error:
                body["error"] = "start-up failed; details on loopback or with the API token"
            return web.json_response(body, status=503)
        checks = await runtime.readiness()
        if mobile_apps:
            checks["mobile"] = slot.mobile is not None
        checks["web"] = slot.web is not None
        if slack is not None:  # built, its loops running, and (Socket Mode) connected
            checks["slack"] = slot.slack is not None and slot.slack.healthy() and slot.slack.connected
        ready = all(checks.values())
        body = {"ready": ready, "checks": checks}
        if slot.error and shown_the_error(request):
            body["error"] = slot.error
        return web.json_response(body, status=200 if ready else 503)

    async def slack_events(request: web.Request) -> web.Response:
        if slot.slack is None:  # still loading: Slack retries a 503 later
            return error_response("starting", "Switchboard is starting", 503, {"Retry-After": "5"})
        return await slot.slack.handle(request)

    if slack is not None and slack.transport == "http":
        app.router.add_post("/slack/events", slack_events)
    if slack is not None and slack.oauth:
        app.router.add_get("/slack/install", slack_events)
        app.router.add_get("/slack/oauth_redirect", slack_events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    add_rest_routes(app, current_dispatcher, limits)
    agent_token = settings.agent_token.get_secret_value() if settings.agent_token else None
    add_agent_routes(
        app,
        lambda: AgentDesk(slot.runtime.agent_replies, slot.runtime.escalations) if slot.runtime is not None else None,
        dataclasses.replace(limits, api_token=agent_token),
    )
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None
    add_webhook_routes(app, lambda: slot.runtime.notices if slot.runtime is not None else None, secret)
    if mobile_apps:
        add_mobile_routes(app, mobile_apps, lambda: slot.mobile.stores if slot.mobile else None, limits)
    add_web_routes(app, lambda: slot.web, web_policy(settings, config))
    add_openapi_route(app, _version())
    return app


def _version() -> str:
    try:
        return metadata.version("switchboard")
    except metadata.PackageNotFoundError:
        return "0"


def _start_mobile(slot: RuntimeSlot, task: asyncio.Task[Runtime], push: Gateways, work: bool) -> None:
    if task.cancelled() or task.exception() is not None:
        return
    try:
        slot.mobile = build_mobile(task.result(), push, work)
    except Exception as error:
        slot.error = f"mobile: {error}"
        log.error("the mobile channel could not start: %s", error)


def _start_web(slot: RuntimeSlot, task: asyncio.Task[Runtime]) -> None:
    if task.cancelled() or task.exception() is not None:
        return

    async def start() -> None:
        try:
            slot.web = await build_web(task.result())
        except Exception as error:
            slot.error = f"web: {error}"
            log.error("the web channel could not start: %s", error)

    starting = asyncio.create_task(start(), name="web-start")
    slot.starting.add(starting)
    starting.add_done_callback(slot.starting.discard)


def _on_loaded(slot: RuntimeSlot, task: asyncio.Task[Runtime], slack: Settings | None, role: Role) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        slot.error = str(error)
        log.error("Switchboard failed to start: %s", error)
        return
    runtime = slot.runtime = task.result()
    # The models and the index are millions of long-lived objects: moved out of the collector's sight,
    # a full collection no longer pauses the event loop for tens of milliseconds (acknowledgement p99).
    gc.collect()
    gc.freeze()
    runtime.watch_knowledge()
    if slack is not None:
        try:
            slot.slack = build_slack(slack, runtime, role)
        except Exception as error:
            slot.error = f"Slack: {error}"
            log.error("Slack could not start: %s", error)


@web.middleware
async def _json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """aiohttp's own 4xx (unknown route, wrong method, body too large) as JSON, like ours."""
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except web.HTTPException as error:
        if error.status >= 400:
            code = "body_too_large" if error.status == 413 else error.reason.lower().replace(" ", "_")
            # the headers aiohttp set on it (Allow on a 405) stay: clients read the methods from them
            kept = {k: v for k, v in error.headers.items() if k.lower() in ("allow", "retry-after")}
            return error_response(code, error.reason, error.status, kept or None)
        raise
