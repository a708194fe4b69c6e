"""Entities for tools: the user's own order number from the vault, dates resolved against the message
time, money with its currency, catalogue products."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.runtime import load_redactor
from bot.settings import FileConfig
from engine import ConversationRef, Engine, Message, Turn
from engine.protocols import EventSink
from engine.types import Entity, Redacted
from safety.entities import EntityExtractor, ExtractEntities, Product
from safety.pii import RedactPII

FRIDAY = datetime(2026, 11, 27, 15, tzinfo=UTC).timestamp()
EXTRACTOR = EntityExtractor([Product("AeroBlend 500 blender", ("aeroblend", "blender 500")), Product("Blender")])


def found(text: str, vault: tuple[Redacted, ...] = ()) -> list[tuple[str, str]]:
    return [(e.kind, e.value) for e in EXTRACTOR.extract(text, vault, FRIDAY)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("it came yesterday", [("date", "2026-11-26")]),
        ("ordered last monday", [("date", "2026-11-23")]),
        ("can you deliver next friday", [("date", "2026-12-04")]),
        ("paid 2 weeks ago", [("date", "2026-11-13")]),
        ("in 3 days please", [("date", "2026-11-30")]),
        ("bought it on 3 March", [("date", "2026-03-03")]),
        ("bought it on Dec 20", [("date", "2025-12-20")]),  # a date without a year is the latest one
        ("on 2026-11-20 or 11/20/2026 or 20/11/2026", [("date", "2026-11-20")] * 3),
        ("charged $45.99 twice", [("money", "45.99 USD")]),
        ("paid 12,50 € for shipping", [("money", "12.50 EUR")]),
        ("refund GBP 1,299.00", [("money", "1299.00 GBP")]),
        ("my aeroblend leaks", [("product", "AeroBlend 500 blender")]),
        ("the blender 500 and a Blender", [("product", "AeroBlend 500 blender"), ("product", "Blender")]),
        ("a killer deal on 2 lamps", []),
        ("€12,50 and £9,99", [("money", "12.50 EUR"), ("money", "9.99 GBP")]),
        ("1.234,56 € or $1,234.56", [("money", "1234.56 EUR"), ("money", "1234.56 USD")]),
        ("I paid $50 2023 and $20 100 times", [("money", "50.00 USD"), ("money", "20.00 USD")]),
        ("order 12 may be lost", []),
    ],
)
def test_what_customers_write_becomes_typed_values(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


def test_redacted_values_come_from_the_vault() -> None:
    vault = (Redacted("<ORDER_ID_1>", "ORDER_ID", "48213"), Redacted("<EMAIL_1>", "EMAIL_ADDRESS", "a@b.com"))
    assert found("order <ORDER_ID_1>, mail <EMAIL_1>", vault) == [("order_id", "48213"), ("email", "a@b.com")]


async def test_the_turn_carries_entities_after_redaction(file_config: FileConfig) -> None:
    redactor = load_redactor(file_config)
    assert redactor is not None
    seen: list[tuple[Entity, ...]] = []

    async def tool_would_see(turn: Turn, events: EventSink) -> Turn:
        seen.append(turn.entities)
        return turn.evolve(reply=None)

    engine = Engine([RedactPII(redactor), ExtractEntities(EXTRACTOR), tool_would_see])
    message = Message(ConversationRef("t", "c", "u"), "where is order 48213 I paid $20 yesterday", "m1", sent_at=FRIDAY)
    [e async for e in engine.handle(message)]
    assert [(e.kind, e.value, e.text) for e in seen[0]] == [
        ("order_id", "48213", "<ORDER_ID_1>"),
        ("date", "2026-11-26", "yesterday"),
        ("money", "20.00 USD", "$20"),
    ]
