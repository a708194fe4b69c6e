"""A demo order system implementing the API `adapters/orders.py` calls, so a new user can track an order
and request, approve and receive a refund without a real back end.

It starts in-process with the demo (`orders.base_url: demo`) or alone with `switchboard demo-backend`.
The demo user `demo` owns BC-12345 (on its way) and BC-12377 (delivered); a few other customers' orders
are there so that asking for someone else's order can be tried too. State lives in memory.
"""

from __future__ import annotations

import hmac
import json
import secrets
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from aiohttp import web

REFUNDABLE = ("delivered", "delayed")  # a delayed order may be cancelled for a refund


def demo_orders(today: date | None = None) -> dict[str, dict[str, Any]]:
    day = today or date.today()

    def on(days: int) -> str:
        return (day + timedelta(days=days)).isoformat()

    def order(number: str, customer: str, status: str, placed: int, item: str, amount: str, **more: Any) -> Any:
        return {
            "id": number,
            "customer": customer,
            "status": status,
            "placed_at": on(placed),
            "items": [{"name": item, "quantity": 1}],
            "total": {"amount": amount, "currency": "USD"},
            "refundable": status in REFUNDABLE,
            **more,
        }

    rows = [
        order(
            "BC-12345", "demo", "in_transit", -3, "AeroBlend 500 blender", "89.00",
            estimated_delivery=on(2), carrier="Parcelway", tracking_number="PW48213377",
            tracking_url="https://track.brightcart.example/PW48213377",
        ),
        order(
            "BC-12377", "demo", "delivered", -12, "Nimbus wireless headphones", "129.99",
            delivered_at=on(-6), carrier="Parcelway", tracking_number="PW48190021",
            tracking_url="https://track.brightcart.example/PW48190021",
        ),
        order("BC-12401", "alex", "processing", -1, "Lumen desk lamp", "34.50", estimated_delivery=on(5)),
        order(
            "BC-12455", "sam", "delayed", -9, "Trailhead backpack", "74.00",
            estimated_delivery=on(3), carrier="Northpost", tracking_number="NP7781",
        ),
        order("BC-12490", "alex", "cancelled", -20, "Glide electric kettle", "42.00"),
    ]  # fmt: skip
    return {row["id"]: row for row in rows}


@dataclass
class DemoOrderSystem:
    token: str | None = None  # when set, requests need `Authorization: Bearer <token>`
    orders: dict[str, dict[str, Any]] = field(default_factory=demo_orders)
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)  # by idempotency key

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._auth], client_max_size=16 * 1024)
        app.router.add_get("/orders", self._list)
        app.router.add_get("/orders/{order_id}", self._get)
        app.router.add_post("/orders/{order_id}/refunds", self._refund)
        return app

    @web.middleware
    async def _auth(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if self.token is not None:
            scheme, _, given = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), self.token.encode()):
                return _error(401, "unauthorized")
        response: web.StreamResponse = await handler(request)
        return response

    def _owned(self, request: web.Request, customer: str) -> dict[str, Any] | None:
        found = self.orders.get(request.match_info["order_id"].upper())
        return found if found is not None and found["customer"] == customer else None

    async def _list(self, request: web.Request) -> web.Response:
        customer = request.query.get("customer", "")
        if not customer:
            return _error(400, "customer is required")
        mine = [o for o in self.orders.values() if o["customer"] == customer]
        return web.json_response({"orders": sorted(mine, key=lambda o: o["placed_at"], reverse=True)})

    async def _get(self, request: web.Request) -> web.Response:
        found = self._owned(request, request.query.get("customer", ""))
        return web.json_response(found) if found is not None else _error(404, "no such order")

    async def _refund(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key", "")
        if not 8 <= len(key) <= 200:
            return _error(400, "an Idempotency-Key header is required")
        if key in self.refunds:  # a retry: the same refund, not a second one
            return web.json_response(self.refunds[key])
        try:
            body = json.loads(await request.read())
        except ValueError:
            return _error(400, "the body must be JSON")
        found = self._owned(request, str(body.get("customer", "")) if isinstance(body, dict) else "")
        if found is None:
            return _error(404, "no such order")
        if found["status"] not in REFUNDABLE:
            return _error(409, f"an order that is {found['status']} cannot be refunded")
        refund = {
            "refund_id": f"RF-{secrets.token_hex(4).upper()}",
            "order_id": found["id"],
            "amount": found["total"],
            "status": "pending",
            "days": 5,
        }
        found["status"], found["refundable"] = "refunded", False
        self.refunds[key] = refund
        return web.json_response(refund, status=201)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def start_demo(host: str = "127.0.0.1", port: int = 0, token: str | None = None) -> tuple[web.AppRunner, str]:
    """Runs the demo order system on a loopback port; returns the runner (to clean up) and its base URL."""
    runner = web.AppRunner(DemoOrderSystem(token=token).app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0]
    return runner, f"http://{host}:{bound[1]}"
