"""POST /webhooks/orders: the order system tells us an order changed; the customer is told (engine.notices).

    {"event_id": "evt_1", "type": "delayed", "order_id": "BC-12345", "customer_id": "demo",
     "estimated_delivery": "2026-12-02"}

Signed like engine/signing.py describes, under SWITCHBOARD_WEBHOOK_SECRET; a bad or stale signature is
401 and nothing runs. 200 {"status": "delivered" | "logged" | "duplicate"}; 409 while another delivery
of the same event is running and 503 when delivery failed (retry later: the event is delivered once).
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable

from aiohttp import web

from channels.rest import error_response
from engine.notices import KINDS, Notices, OrderEvent
from engine.protocols import StoreUnavailable
from engine.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify

log = logging.getLogger(__name__)
MAX_BODY = 16 * 1024
_ID = re.compile(r"^[A-Za-z0-9_.:@+#-]{1,128}\Z")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


class BadEvent(ValueError):
    pass


def parse_event(raw: bytes) -> OrderEvent:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise BadEvent("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise BadEvent("the body must be a JSON object")
    fields = {}
    for name in ("event_id", "type", "order_id", "customer_id"):
        value = body.get(name)
        if not isinstance(value, str) or not _ID.match(value):
            raise BadEvent(f"'{name}' must be 1-128 characters of letters, digits and _ . : @ + # -")
        fields[name] = value
    if fields["type"] not in KINDS:
        raise BadEvent(f"'type' must be one of {', '.join(sorted(KINDS))}")
    eta = body.get("estimated_delivery") or ""
    if not isinstance(eta, str) or (eta and not _DATE.match(eta)):
        raise BadEvent("'estimated_delivery' must be an ISO date (2026-12-02)")
    return OrderEvent(fields["event_id"], fields["type"], fields["order_id"], fields["customer_id"], eta[:10])


def add_webhook_routes(app: web.Application, notices: Callable[[], Notices | None], secret: str | None) -> None:
    async def orders(request: web.Request) -> web.Response:
        if secret is None:
            return error_response("webhooks_off", "set SWITCHBOARD_WEBHOOK_SECRET to receive order webhooks", 404)
        if request.content_length is not None and request.content_length > MAX_BODY:
            return error_response("body_too_large", f"the body is over {MAX_BODY} bytes", 413)
        raw = await request.read()  # the whole body, however it arrives; aiohttp stops at client_max_size
        if len(raw) > MAX_BODY:
            return error_response("body_too_large", f"the body is over {MAX_BODY} bytes", 413)
        why = verify(secret, request.headers.get(TIMESTAMP_HEADER, ""), request.headers.get(SIGNATURE_HEADER, ""), raw)
        if why is not None:
            return error_response("bad_signature", why, 401)
        try:
            event = parse_event(raw)
        except BadEvent as bad:
            return error_response("invalid_event", str(bad), 400)
        current = notices()
        if current is None:
            return error_response("starting", "Switchboard is still loading; retry shortly", 503, {"Retry-After": "5"})
        try:
            outcome = await current.deliver(event)
        except StoreUnavailable:
            return error_response("unavailable", "memory is unavailable; retry later", 503, {"Retry-After": "30"})
        except Exception:
            log.exception("notice %s could not be delivered", event.event_id)
            return error_response("not_delivered", "the notice could not be delivered; retry later", 503)
        if outcome == "in_progress":
            return error_response(
                "in_progress", "this event is being delivered; retry later", 409, {"Retry-After": "30"}
            )
        return web.json_response({"status": outcome, "event_id": event.event_id})

    app.router.add_post("/webhooks/orders", orders)
