"""Customers writing in other languages than English reach their orders: the order tools are chosen from
words in 17 languages (engine/cues.py), speak the customer's language, and leave look-alikes alone."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer

from adapters.orders import REFUNDS, TRACKER
from bot.app import create_app
from bot.settings import FileConfig, Settings
from engine.dates import spoken_date
from engine.replies import reply_text
from tests.conftest import own_prefix, start_ready


@pytest.fixture
async def shop(settings: Settings, file_config: FileConfig) -> AsyncIterator[str]:
    """A server with its own in-process demo order system, so no other test has refunded its orders."""
    server: TestServer = await start_ready(create_app(settings, own_prefix(file_config, "languages")))
    yield str(server.make_url("")).rstrip("/")
    await server.close()


async def message(url: str, text: str, conversation: str) -> dict[str, Any]:
    body = {"user_id": "demo", "text": text, "conversation_id": conversation}
    async with ClientSession() as http, http.post(f"{url}/api/messages", json=body) as response:
        assert response.status == 200
        return dict(await response.json())


EVAL_ORDERS = Path(__file__).resolve().parent.parent / "eval" / "orders"


def served_by(reply: dict[str, Any]) -> str:
    """Which order tool a reply came from: the refund's proposal, the tracker's answer or its "which order?"
    question (named by the intent it was asked for), or none."""
    if any(a["action"] == "approve" for a in reply["actions"]):
        return "refund"
    if reply["metadata"]["escalated"]:
        return "none"
    if any("track." in source for source in reply["sources"]):
        return "order_status"
    if "• BC-" in reply["response"]:
        return "refund" if reply["metadata"]["intent"] == "refund_request" else "order_status"
    return "none"


async def test_customers_writing_17_other_languages_reach_their_orders_and_look_alikes_do_not(shop: str) -> None:
    """eval/orders: messages about an order, a refund or neither in 17 languages, by two helpers who never saw
    the cue words (first-dev, first-test; second-dev, second-test, with products instead of orders, quoted
    states and double charges). The dev splits were corrected on; first-test was measured once before the
    second round and second-test only at its end (docs/tools.md has the figures and what changed after)."""
    # measured: 96, 74, 74, 55 %
    floors = {"first-dev": 0.9, "first-test": 0.65, "second-dev": 0.65, "second-test": 0.45}
    for split, floor in floors.items():
        rows = [json.loads(line) for line in (EVAL_ORDERS / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()]
        right = {"requests": [0, 0], "look-alikes": [0, 0]}
        for index, row in enumerate(rows):
            reply = await message(shop, row["text"], f"languages-{split}-{index}")
            counted = right["look-alikes" if row["label"] == "none" else "requests"]
            counted[0] += served_by(reply) == row["label"]
            counted[1] += 1
        rates = {kind: good / total for kind, (good, total) in right.items()}
        assert rates["requests"] >= floor, (split, rates)
        assert rates["look-alikes"] >= 0.93, (split, rates)  # measured: 65 to 68 of 68 (before: 68 of 68)


async def test_an_order_in_spanish_is_told_in_spanish_with_its_dates_and_buttons(shop: str) -> None:
    tracked = await message(shop, "hola, ¿dónde está mi pedido 12345?", "es-1")
    tracker, _ = TRACKER.wording("es")
    assert tracked["response"].splitlines()[0] == tracker.reply[0].format(
        order_id="BC-12345", status=dict(tracker.codes)["in_transit"]
    )
    eta = (date.today() + timedelta(days=2)).isoformat()  # the demo order system's BC-12345
    assert spoken_date(eta, "es") in tracked["response"]
    assert tracked["metadata"]["language"] == "es"
    which = await message(shop, "quiero que me devuelvan el dinero de mi pedido", "es-2")
    refunds, _ = REFUNDS.wording("es")
    assert which["response"].startswith(refunds.proposal[0].format(order_id="BC-12377"))  # its one delivered order
    labels = {a["action"]: a["label"] for a in which["actions"]}
    assert labels["approve"] == reply_text("approve", "es")
    # German nouns are not people's names, and a refund for a parcel that arrived broken is about the refund
    german = "Der Wasserkocher kam kaputt an, ich möchte eine Rückerstattung für Bestellung 12377."
    asked = await message(shop, german, "de-1")
    assert asked["response"].startswith(REFUNDS.wording("de")[0].proposal[0].format(order_id="BC-12377"))
    listed = await message(shop, "¿cuándo llega mi pedido?", "es-3")
    assert listed["response"].startswith(reply_text("which_order", "es", choices=""))
    on_its_way = dict(tracker.codes)["in_transit"]
    assert f"• BC-12345: {on_its_way}, " in listed["response"]  # its orders' states, in Spanish
