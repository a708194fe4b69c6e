"""Wiring of the tools: the order system (or the in-process demo), declared HTTP tools, consent and audit.

Environment variables named in the YAML (`orders.token_env`, `tools.*.auth.bearer_env`) are read here, in
the composition root, and a missing one is a start-up error naming it.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from redis.asyncio import Redis

from adapters.api_tool import ApiTool, ApiToolConfig, parse_path
from adapters.demo_orders import start_demo
from adapters.http import FencedClient, HostRules
from adapters.orders import OrderApi, OrderSystem, OrderTracker, Refunds
from bot.settings import PROJECT_ROOT, ApiToolSettings, FileConfig, Settings, SettingsError
from engine.consent import ConsentSigner
from engine.tools import Tool, ToolError, Tools
from memory.store import shared_secret


@dataclass
class ToolKit:
    tools: Tools
    closers: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    demo_url: str | None = None  # where the in-process demo order system listens

    async def close(self) -> None:
        for close in reversed(self.closers):
            await close()


def _env(name: str, key: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SettingsError(f"{name}: not set (the YAML's {key} names it)")
    return value


DEMO_COMPANY = "Brightcart"  # the demo shop of bot/defaults.yaml, whose orders the demo system holds
DEMO_KNOWLEDGE = PROJECT_ROOT / "knowledge"


def demo_leftovers(config: FileConfig) -> list[str]:
    """What a deployment of its own still takes from the demo (one line each, for a start-up warning): a
    company or help centre of its own with the demo's order system answering its customers' order
    questions, or the demo help centre under another company's name."""
    bundled = [DEMO_KNOWLEDGE.resolve()]
    own_knowledge = [p.resolve() for p in config.knowledge.paths] != bundled
    own_company = config.company.name != DEMO_COMPANY
    found = []
    if config.orders.base_url == "demo" and (own_knowledge or own_company):
        found.append(
            "orders.base_url is 'demo': customers' order questions are answered from the demo shop's orders "
            "(BC-12345…); set it to your order system's URL, or null for no order tools (docs/tools.md)"
        )
    if own_company and not own_knowledge:
        found.append(
            f"knowledge.paths is the bundled demo help centre ({DEMO_KNOWLEDGE}): {config.company.name}'s "
            "customers are answered from Brightcart's pages; set knowledge.paths to your own"
        )
    return found


async def build_tools(config: FileConfig) -> ToolKit:
    kit = ToolKit(Tools())
    try:
        tools: list[Tool] = []
        directory = None
        orders = config.orders
        if orders.base_url is not None:
            token = _env(orders.token_env, "orders.token_env") if orders.token_env else None
            base_url, allow_private = orders.base_url, orders.allow_private
            if base_url == "demo":
                runner, base_url = await start_demo(token=token)
                kit.closers.append(runner.cleanup)
                kit.demo_url, allow_private = base_url, True
            host = urlsplit(base_url).hostname or ""
            client = FencedClient(HostRules(frozenset({host}), allow_private))
            kit.closers.append(client.close)
            system = OrderSystem(OrderApi(base_url, token, orders.timeout_s, orders.number_prefix), client)
            directory = system
            tools.append(OrderTracker(system))
            if orders.refunds:
                tools.append(Refunds(system))
        for name, declared in config.tools.items():
            tools.append(_declared(name, declared, config, kit))
        kit.tools = Tools(tuple(tools), directory)
    except BaseException:
        await kit.close()
        raise
    return kit


def _declared(name: str, declared: ApiToolSettings, config: FileConfig, kit: ToolKit) -> Tool:
    key = f"tools.{name}"
    for intent in declared.intents:
        if intent not in config.intents:
            raise SettingsError(f"{key}.intents: no intent named {intent!r}")
    paths = {f"fields.{fact}": path for fact, path in declared.fields.items()}
    if declared.customer_field:
        paths["customer_field"] = declared.customer_field
    for where, path in paths.items():
        try:
            parse_path(path)
        except ValueError as error:
            raise SettingsError(f"{key}.{where}: {error}") from None
    token = _env(declared.auth.bearer_env, f"{key}.auth.bearer_env") if declared.auth else None
    hosts = declared.allowed_hosts or [urlsplit(declared.url).hostname or ""]
    client = FencedClient(HostRules(frozenset(hosts), declared.allow_private), declared.max_response_bytes)
    kit.closers.append(client.close)
    try:
        return ApiTool(
            ApiToolConfig(
                name=name,
                method=declared.method,
                url=declared.url,
                intents=tuple(declared.intents),
                fields=dict(declared.fields),
                token=token,
                timeout_s=declared.timeout_s,
                confirm=declared.confirm,
                reply=tuple(declared.reply),
                proposal=tuple(declared.proposal),
                title=declared.title,
                link_field=declared.link_field,
                customer_field=declared.customer_field,
            ),
            client,
        )
    except ValueError as error:
        raise SettingsError(f"{key}: {error}") from None
    except ToolError as error:  # the URL's host is not among the allowed ones
        raise SettingsError(f"{key}.url: {error.detail}") from None


async def consent_signer(settings: Settings, redis: Redis, prefix: str) -> ConsentSigner:
    """SWITCHBOARD_ACTION_SECRET, or one random key kept in Redis so every process signs alike."""
    if settings.action_secret is not None:
        return ConsentSigner(settings.action_secret.get_secret_value().encode())
    return ConsentSigner(await shared_secret(redis, prefix, "consent"))
