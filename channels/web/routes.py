"""The web channel's HTTP side: `GET /ws` (the widget's socket), `POST /api/session` (signed sessions),
`GET /widget.js` (the embeddable widget) and `GET /` (a demo page carrying it).

A browser's WebSocket is not bound by the same-origin policy, so the Origin header is checked before the
upgrade: the server's own origin and the `web.allowed_origins` of the YAML may connect, any other page in
a customer's browser may not. Clients that send no Origin (back ends, the benchmark) are not browsers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

from aiohttp import web

from channels.addresses import client_address
from channels.rest import IDENTIFIER, BadRequest, authorized, error_response, json_object, same_origin
from channels.web.socket import RateLimiter, WebChannel


@dataclass(frozen=True, slots=True)
class WebPolicy:
    anonymous: bool  # may a page get a session without the site's back end naming the user?
    allowed_origins: frozenset[str] = frozenset()  # "https://shop.example.com", besides the server's own
    session_ttl_s: int = 86400
    max_session_ttl_s: int = 30 * 86400
    max_frame_bytes: int = 16384
    max_connections: int = 2000
    max_waiting_per_address: int = 20  # sockets opened that have not said hello yet
    demo_page: bool = True
    anonymous_per_minute: float = 60.0  # new anonymous sessions per client address (a proxy is one address)
    anonymous_burst: int = 120
    api_token: str | None = None  # named sessions are asked for with it, as REST messages are


def _static(name: str) -> bytes:
    return resources.files("channels.web").joinpath("static", name).read_bytes()


def origin_allowed(request: web.Request, policy: WebPolicy) -> bool:
    origin = request.headers.get("Origin")
    return origin is None or origin.lower() in policy.allowed_origins or same_origin(request, origin)


def add_web_routes(app: web.Application, channel: Callable[[], WebChannel | None], policy: WebPolicy) -> None:
    widget, demo = _static("widget.js"), _static("demo.html")
    # Each anonymous session is a new user with a rate limit of its own: their minting is limited per address.
    minting = RateLimiter(policy.anonymous_per_minute, policy.anonymous_burst)
    # Sockets that have not said hello yet, per address: one client cannot fill `max_connections` with them.
    waiting: dict[str, int] = {}

    def cors(request: web.Request) -> dict[str, str]:
        origin = request.headers.get("Origin")
        if origin is None or not origin_allowed(request, policy):
            return {}
        return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}

    async def socket(request: web.Request) -> web.StreamResponse:
        if not origin_allowed(request, policy):
            return error_response("origin_not_allowed", "this page's origin may not open the chat socket", 403)
        current = channel()
        if current is None:
            return error_response("starting", "Switchboard is still loading; retry shortly", 503, {"Retry-After": "5"})
        if current.sockets >= policy.max_connections:
            return error_response("busy", "too many chat connections; retry shortly", 503, {"Retry-After": "5"})
        address = client_address(request)
        if waiting.get(address, 0) >= policy.max_waiting_per_address:
            message = "too many sockets from this address have not said hello; retry shortly"
            return error_response("too_many_connecting", message, 429, {"Retry-After": "5"})
        ws = web.WebSocketResponse(heartbeat=25.0, max_msg_size=policy.max_frame_bytes)
        if not ws.can_prepare(request).ok:
            return error_response("not_websocket", "GET /ws is a WebSocket endpoint (docs/web.md)", 400)
        # Counted before the first await: concurrent handshakes cannot all pass the caps.
        current.sockets += 1
        waiting[address] = waiting.get(address, 0) + 1
        greeted = False

        def said_hello() -> None:
            nonlocal greeted
            if not greeted:
                greeted = True
                if waiting[address] == 1:
                    del waiting[address]
                else:
                    waiting[address] -= 1

        try:
            await ws.prepare(request)
            await current.serve(request, ws, said_hello)
        finally:
            current.sockets -= 1
            said_hello()
        return ws

    async def session(request: web.Request) -> web.Response:
        headers = cors(request)
        try:
            body = json_object(await request.read()) if request.can_read_body else {}
            user_id, ttl = body.get("user_id"), body.get("ttl_s", policy.session_ttl_s)
            if isinstance(ttl, bool) or not isinstance(ttl, int) or not 60 <= ttl <= policy.max_session_ttl_s:
                raise BadRequest("invalid_field", f"'ttl_s' must be 60-{policy.max_session_ttl_s} seconds")
            if user_id is not None and (not isinstance(user_id, str) or not IDENTIFIER.match(user_id)):
                raise BadRequest("invalid_field", "'user_id' must be 1-128 letters, digits and _ . : @ + -")
        except BadRequest as bad:
            return error_response(bad.code, bad.message, bad.status, headers)
        if user_id is not None and policy.api_token is None:
            # Without a token anyone who reaches the port (a proxy, a rebound DNS name) could read any user's chat.
            message = "named sessions need SWITCHBOARD_API_TOKEN set on the server (docs/web.md)"
            return error_response("named_sessions_off", message, 403, headers)
        if user_id is not None and not authorized(request, policy.api_token):
            message = "a named session needs 'Authorization: Bearer <token>' (ask from your site's back end)"
            return error_response("unauthorized", message, 401, headers | {"WWW-Authenticate": "Bearer"})
        if user_id is None and not policy.anonymous:
            message = "anonymous sessions are off: your site's back end asks for a session naming the user"
            return error_response("anonymous_off", message, 403, headers)
        if user_id is None and (wait := minting.wait_s(client_address(request))) > 0:
            retry = str(max(1, round(wait)))
            message = "too many new sessions from this address; retry shortly"
            return error_response("rate_limited", message, 429, headers | {"Retry-After": retry})
        current = channel()
        if current is None:
            return error_response("starting", "Switchboard is still loading; retry shortly", 503, headers)
        if user_id is None:
            token, issued = current.signer.anonymous(ttl)
        else:
            token, issued = current.signer.issue(user_id, ttl)
        body = {"token": token, "user_id": issued.user_id, "expires_at": issued.expires_at}
        return web.json_response(body, headers=headers | {"Cache-Control": "no-store"})

    async def preflight(request: web.Request) -> web.Response:
        headers = cors(request)
        if not headers:
            return error_response("origin_not_allowed", "this origin may not ask for sessions", 403)
        allow = {"Access-Control-Allow-Methods": "POST", "Access-Control-Allow-Headers": "Content-Type"}
        return web.Response(status=204, headers=headers | allow | {"Access-Control-Max-Age": "600"})

    async def widget_js(request: web.Request) -> web.Response:
        headers = {"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"}
        return web.Response(body=widget, content_type="text/javascript", charset="utf-8", headers=headers)

    async def demo_page(request: web.Request) -> web.Response:
        headers = {
            "Content-Security-Policy": "default-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'",
            "X-Content-Type-Options": "nosniff",
        }
        return web.Response(body=demo, content_type="text/html", charset="utf-8", headers=headers)

    app.router.add_get("/ws", socket)
    app.router.add_post("/api/session", session)
    app.router.add_route("OPTIONS", "/api/session", preflight)
    app.router.add_get("/widget.js", widget_js)
    if policy.demo_page:
        app.router.add_get("/", demo_page)
