"""A tool declared in the YAML: one HTTP call, its URL filled from the message's entities, and the fields
of the JSON answer (by a small JSONPath: `$.a.b[0].c`) that the reply may state.

    tools:
      order_status:
        type: api
        method: GET
        url: "https://orders.example.com/v1/orders/{order_id}?customer={user_id}"
        auth: {bearer_env: ORDERS_API_TOKEN}
        timeout_s: 5
        intents: [order_status, delivery_delay]
        fields: {status: "$.status", eta: "$.estimated_delivery", tracking_url: "$.tracking_url"}
        reply: ["Your order {order_id} is {status}.", "Expected: {eta}."]
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from adapters.http import FencedClient, failure_for
from adapters.orders import tracking_link
from engine.tools import Failure, ToolCall, ToolError, ToolResult, ToolSpec

_PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")
_STEP = re.compile(r"\.([A-Za-z_][\w-]*)|\[(\d+)\]")
ENTITY_KINDS = frozenset({"order_id", "email", "phone", "date", "money", "product"})


def parse_path(path: str) -> tuple[str | int, ...]:
    """`$.a.b[0]` → ("a", "b", 0); ValueError for anything else."""
    if not path.startswith("$"):
        raise ValueError(f"{path!r} must start with $")
    steps: list[str | int] = []
    position = 1
    for match in _STEP.finditer(path, 1):
        if match.start() != position:
            break
        steps.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    if position != len(path):
        raise ValueError(f"{path!r} is not a path like $.field.inner[0]")
    return tuple(steps)


def pick(document: Any, steps: tuple[str | int, ...]) -> Any:
    for step in steps:
        if isinstance(step, int):
            document = document[step] if isinstance(document, list) and -len(document) <= step < len(document) else None
        else:
            document = document.get(step) if isinstance(document, dict) else None
        if document is None:
            return None
    return document


@dataclass(frozen=True, slots=True)
class ApiToolConfig:
    name: str
    method: str
    url: str
    intents: tuple[str, ...]
    fields: Mapping[str, str]
    token: str | None = None
    timeout_s: float = 5.0
    confirm: bool = False
    reply: tuple[str, ...] = ()
    proposal: tuple[str, ...] = ()
    title: str = ""
    link_field: str = ""  # a mapped field holding a URL to cite (a tracking page)
    customer_field: str | None = "$.customer"  # must name the asking user; None: answers about no one


class ApiTool:
    def __init__(self, config: ApiToolConfig, client: FencedClient) -> None:
        self.config = config
        self.client = client
        self._paths = {name: parse_path(path) for name, path in config.fields.items()}
        self._customer = parse_path(config.customer_field) if config.customer_field else None
        used = _PLACEHOLDER.findall(config.url)
        unknown = [name for name in used if name != "user_id" and name not in ENTITY_KINDS]
        if unknown:
            raise ValueError(f"tool {config.name}: the URL names {unknown[0]!r}, not an entity or user_id")
        client.check(_PLACEHOLDER.sub("x", config.url))  # the host must be allowed before any call
        self.spec = ToolSpec(
            name=config.name,
            intents=config.intents,
            parameters=tuple(dict.fromkeys(name for name in used if name != "user_id")),
            confirm=config.confirm,
            reply=config.reply,
            proposal=config.proposal or (f"Shall I go ahead with {config.name.replace('_', ' ')}?",),
            title=config.title,
        )

    def _url(self, call: ToolCall) -> str:
        values = {**dict(call.arguments), "user_id": call.user_id}
        if any(v.strip() in ("", ".", "..") for v in values.values()):  # "..": a path step, not a value
            raise ToolError(Failure.INVALID, "an empty or dot-segment value in the URL")
        return _PLACEHOLDER.sub(lambda m: quote(values.get(m.group(1), ""), safe=""), self.config.url)

    async def run(self, call: ToolCall, idempotency_key: str) -> ToolResult:
        headers = {"Accept": "application/json"}
        if self.config.token:
            headers["Authorization"] = f"Bearer {self.config.token}"
        body = None
        if self.config.method != "GET":
            headers["Idempotency-Key"] = idempotency_key
            body = {**dict(call.arguments), "customer": call.user_id}
        response = await self.client.request(self.config.method, self._url(call), self.config.timeout_s, headers, body)
        failure = failure_for(response.status)
        if failure is not None:
            raise ToolError(failure, f"{self.config.name} answered HTTP {response.status}")
        if not isinstance(response.body, dict | list):
            raise ToolError(Failure.INVALID, f"{self.config.name} answered no JSON object")
        if self._customer is not None and pick(response.body, self._customer) != call.user_id:
            raise ToolError(Failure.NOT_FOUND, f"{self.config.name} answered about another customer")
        facts = {name: pick(response.body, steps) for name, steps in self._paths.items()}
        link = None
        if self.config.link_field:
            link = tracking_link({"tracking_url": facts.pop(self.config.link_field, None)})
        return ToolResult.of(facts, link)

    async def preview(self, call: ToolCall) -> ToolResult:
        return ToolResult(())  # a declared tool runs nothing before it is approved
