"""The order system's REST API: an order's status, a customer's orders, and refunds.

    GET  {base_url}/orders/{id}?customer={user}     → the order (its `customer` must be the user)
    GET  {base_url}/orders?customer={user}          → {"orders": [...]}
    POST {base_url}/orders/{id}/refunds             {"customer": user}, Idempotency-Key → the refund

Every request names the user, and an order whose `customer` is someone else is answered as not found:
a customer can only ever see their own orders. `adapters/demo_orders.py` implements this API.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

from adapters.http import FencedClient, failure_for
from engine.cues import language_of, says, starts_with
from engine.tools import ORDER_NUMBER, Failure, OrderSummary, ToolCall, ToolError, ToolResult, ToolSpec, Wording
from engine.types import Citation

_TEXTS = Path(__file__).resolve().parent / "data" / "order_texts.json"
# "refund it", "refund me", "Refund 10009 because…": an English message that begins with the word, or says
# "refund me/it/my order", asks for one
_REFUND_EN = re.compile(r"^\W*refund\b|\brefund (me|it|this|that|my|the|order)\b", re.I)
# a refund already made, told rather than asked for: the refund, perhaps its order, then that it arrived
# ("refund for order 12377 came through", "refund 12377 done, ty", "got my refund"); not when negated
_REFUND_DONE_EN = re.compile(
    r"\brefund\s+(?:(?:for|on|of)\s+)?(?:(?:my|the|your|this|that)\s+)?(?:order\s+)?(?:#\s*|no\.?\s*)?"
    r"(?:[a-z]{0,4}-?\d[\w-]*,?\s+)?(?:(?:has|have|was|is|got|been|finally|already|just|now)\s+)*"
    r"(?:(?:came|come|went|gone) through|processed|issued|completed|credited|showed up|landed"
    r"|(?:arrived|received)\b(?!\s+(?:damaged|broken|defective|faulty|wrong|late|torn|opened|used|missing|empty))"
    r"|hit my (?:account|card|bank)|done)\b"
    r"|\b(?:got|received|gotten)\s+(?:my|the|your)\s+refund\b",
    re.I,
)
# "not", "never", "hasn't" (straight or curly apostrophe); "no" unless it numbers an order ("refund no. 12377")
_NEGATED_EN = re.compile(
    r"\b(?:not|never|yet|still)\b|\bno\b(?!\.?\s*#?\d)"
    r"|\b(?:is|are|was|were|has|have|had|do|does|did|ca|could|would|wo)n['\u2019]?t\b",
    re.I,
)
_REFUND_WORD_OR_NUMBER = re.compile(r"\brefund|\d", re.I)
_SHORT_WORDS, _SHORT_CHARS = 5, 12  # a short message: words where words are spaced, else characters


def _asks_for_refund(text: str) -> bool:
    """Asking for a refund, not about one. In another language a message that begins with the word for a
    refund asks for one when it is short and asks no where or when ("退款 12377", "reembolso pedido 12377";
    not "Erstattung wurde Montag freigegeben, …" nor "reembolso todavía no llega")."""
    english = language_of(text) in (None, "en")
    if english and _REFUND_DONE_EN.search(text) and not _NEGATED_EN.search(text):
        # told that one came through: only what else the message says may ask for another ("got my refund
        # for 12376, please refund 12377 too"), naming a refund or an order ("can you confirm it?" does not)
        rest = _REFUND_DONE_EN.sub(" ", text)
        return bool(_REFUND_EN.search(rest) or (says("ask", rest) and _REFUND_WORD_OR_NUMBER.search(rest)))
    if says("ask", text) or (english and _REFUND_EN.search(text)):
        return True
    plain = _PLACEHOLDER.sub("0", text).strip()  # "退款订单<ORDER_ID_1>": the number counts as one character
    short = len(plain.split()) <= _SHORT_WORDS and (" " in plain or len(plain) <= _SHORT_CHARS)
    # and not about one already under way ("rimborso già ricevuto", "退款已经到账了")
    return short and starts_with("refund", text) and not says("status", text) and not says("shipped", text)


_PLACEHOLDER = re.compile(r"<[A-Z][A-Z_]*_\d+>")


def _about_its_whereabouts(text: str) -> bool:
    """Beside a number that is surely an order's: words asking where or when; or, in another language than
    English, the word for an order ("pedido n° 12345: el repartidor nunca vino"): the customer's own order,
    named by its number, is what a person would look up first."""
    return says("status", text) or (language_of(text) not in (None, "en") and says("order", text))


def _wordings() -> dict[str, dict[str, Any]]:
    """The built-in tools' texts in every reply language (adapters/data/order_texts.json)."""
    data: dict[str, dict[str, Any]] = json.loads(_TEXTS.read_text(encoding="utf-8"))
    data.pop("_about", None)
    return data


_WORDINGS = _wordings()
STATUS_TEXT: dict[str, str] = dict(_WORDINGS["en"]["status"])


def _languages(reply: str, proposal: str = "", offer: bool = False) -> tuple[tuple[str, Wording], ...]:
    return tuple(
        (
            language,
            Wording(
                reply=tuple(texts[reply]),
                proposal=tuple(texts[proposal]) if proposal else (),
                offer=str(texts["offer"]) if offer else "",
                refused=tuple(texts["refund_refused"]) if offer else (),
                link_title=str(texts["tracking_title"]),
                codes=tuple(texts["status"].items()),
            ),
        )
        for language, texts in _WORDINGS.items()
    )


TRACKER = ToolSpec(
    name="order_status",
    intents=("order_status", "delivery_delay"),
    title="",  # unnamed: replies name the company (company.name), which reads right in every language
    cues=_about_its_whereabouts,  # where, track, arrive… in the message's language or English (engine/cues.py)
    reply=tuple(_WORDINGS["en"]["tracker_reply"]),
    languages=_languages("tracker_reply"),
)
REFUNDS = ToolSpec(
    name="refund",
    intents=("refund_request",),
    confirm=True,
    choose_from=("delivered", "delayed"),
    title="",  # unnamed: replies name the company (company.name), which reads right in every language
    proposal=tuple(_WORDINGS["en"]["refund_proposal"]),
    reply=tuple(_WORDINGS["en"]["refund_reply"]),
    offer=str(_WORDINGS["en"]["offer"]),
    offer_action="refund_order",
    asks=_asks_for_refund,
    languages=_languages("refund_reply", "refund_proposal", offer=True),
)


@dataclass(frozen=True, slots=True)
class OrderApi:
    base_url: str
    token: str | None = None  # sent as a bearer token; never logged
    timeout_s: float = 5.0
    number_prefix: str = ""  # "BC-": a customer's "12345" is the system's "BC-12345"
    refund_attempts: int = 3  # a refund retried (same idempotency key) after a timeout or a 5xx


class OrderSystem:
    """`OrderDirectory` over the REST API, and the calls the two tools make."""

    def __init__(self, api: OrderApi, client: FencedClient) -> None:
        self.api = api
        self.client = client
        self.base = api.base_url.rstrip("/")

    def normalise(self, number: str) -> str:
        match = ORDER_NUMBER.fullmatch(number.strip())
        if match is None:
            return number.strip()
        if self.api.number_prefix:
            return f"{self.api.number_prefix}{match.group(1)}"
        # the system's own prefix ("BC-12345") is kept; a "#" or "No" only says a number follows
        return match.group(0) if match.group(0)[: -len(match.group(1))].endswith("-") else match.group(1)

    def _headers(self, **extra: str) -> dict[str, str]:
        headers = {"Accept": "application/json", **extra}
        if self.api.token:
            headers["Authorization"] = f"Bearer {self.api.token}"
        return headers

    async def _call(self, method: str, path: str, route: str, body: Any = None, **headers: str) -> Any:
        """`route` names the call in errors and logs without the order number or the user (personal data)."""
        response = await self.client.request(
            method, self.base + path, self.api.timeout_s, self._headers(**headers), body
        )
        failure = failure_for(response.status)
        if failure is not None:
            raise ToolError(failure, f"{method} {route} answered HTTP {response.status}")
        return response.body

    async def order(self, order_id: str, user_id: str) -> Mapping[str, Any]:
        path = f"/orders/{quote(order_id, safe='')}?customer={quote(user_id, safe='')}"
        found = await self._call("GET", path, "/orders/{id}")
        if not isinstance(found, dict) or not isinstance(found.get("status"), str):
            raise ToolError(Failure.INVALID, "an order without a status")
        if found.get("customer") != user_id:
            raise ToolError(Failure.NOT_FOUND, "the order belongs to another customer")
        return found

    async def orders(self, user_id: str) -> Sequence[OrderSummary]:
        found = await self._call("GET", f"/orders?customer={quote(user_id, safe='')}", "/orders")
        rows = found.get("orders") if isinstance(found, dict) else found
        if not isinstance(rows, list):
            raise ToolError(Failure.INVALID, "the order list is not a list")
        summaries = []
        for row in rows:
            if not isinstance(row, dict) or row.get("customer") != user_id or not isinstance(row.get("id"), str):
                continue  # never show an order that is not the user's
            summaries.append(
                OrderSummary(str(row["id"]), str(row.get("status", "")), str(row.get("placed_at") or ""), _money(row))
            )
        return summaries

    async def refund(self, order_id: str, user_id: str, key: str) -> Mapping[str, Any]:
        path = f"/orders/{quote(order_id, safe='')}/refunds"
        delay = 0.2
        for attempt in range(1, self.api.refund_attempts + 1):
            try:
                found = await self._call(
                    "POST", path, "/orders/{id}/refunds", {"customer": user_id}, **{"Idempotency-Key": key}
                )
            except ToolError as error:
                # the same key on every attempt: a refund whose answer was lost is not made twice
                if error.failure is not Failure.UNAVAILABLE or attempt == self.api.refund_attempts:
                    raise
                await asyncio.sleep(delay)
                delay *= 2
                continue
            if not isinstance(found, dict):
                raise ToolError(Failure.INVALID, "the refund answer is not an object")
            return found
        raise ToolError(Failure.UNAVAILABLE, "no attempts")  # pragma: no cover - the loop returns or raises


def _money(value: Mapping[str, Any], key: str = "total") -> str:
    money = value.get(key)
    if isinstance(money, dict) and money.get("amount") is not None:
        return f"{money['amount']} {money.get('currency', '')}".strip()
    return "" if money is None or isinstance(money, dict | list) else str(money)


def _items(order: Mapping[str, Any]) -> list[str]:
    items = order.get("items")
    if not isinstance(items, list):
        return []
    named = []
    for item in items:
        if isinstance(item, dict) and item.get("name"):
            quantity = item.get("quantity", 1)
            named.append(f"{quantity} x {item['name']}" if quantity not in (1, "1") else str(item["name"]))
    return named


def order_facts(order: Mapping[str, Any]) -> dict[str, object]:
    status = str(order.get("status", ""))
    delivered = status == "delivered"
    return {
        "status": STATUS_TEXT.get(status, status.replace("_", " ")),
        "status_code": status,
        "eta": None if delivered else order.get("estimated_delivery"),
        "delivered_on": order.get("delivered_at") if delivered else None,
        "carrier": order.get("carrier"),
        "tracking_number": order.get("tracking_number"),
        "items": _items(order),
        "total": _money(order),
    }


def tracking_link(order: Mapping[str, Any]) -> Citation | None:
    url = order.get("tracking_url")
    if not isinstance(url, str) or urlsplit(url).scheme not in ("http", "https") or re.search(r"\s", url):
        return None
    return Citation(str(_WORDINGS["en"]["tracking_title"]), url, "", 1.0)


class OrderTracker:
    spec = TRACKER

    def __init__(self, system: OrderSystem) -> None:
        self.system = system

    async def run(self, call: ToolCall, idempotency_key: str) -> ToolResult:
        order = await self.system.order(call.arg("order_id"), call.user_id)
        return ToolResult.of(order_facts(order), tracking_link(order))

    async def preview(self, call: ToolCall) -> ToolResult:
        return ToolResult(())


class Refunds:
    spec = REFUNDS

    def __init__(self, system: OrderSystem) -> None:
        self.system = system

    async def preview(self, call: ToolCall) -> ToolResult:
        """The order, checked to be the user's and refundable, before the Approve button is offered."""
        order = await self.system.order(call.arg("order_id"), call.user_id)
        facts = ToolResult.of(order_facts(order))
        if order.get("refundable") is False or order.get("status") not in REFUNDS.choose_from:
            raise ToolError(
                Failure.REFUSED,
                f"an order that is {str(order.get('status'))[:40]} cannot be refunded here",
                tuple(_WORDINGS["en"]["refund_refused"]),
                facts.facts,
            )
        return facts

    async def run(self, call: ToolCall, idempotency_key: str) -> ToolResult:
        refund = await self.system.refund(call.arg("order_id"), call.user_id, idempotency_key)
        return ToolResult.of(
            {
                "reference": refund.get("refund_id"),
                "amount": _money(refund, "amount"),
                "days": refund.get("days"),
                "status_code": "refunded",
            }
        )
