"""Model-proposed tool calls: validated against the tool's schema before anything runs, and never with a
value the user did not write. The proposer below stands in the model's seat with fixed answers (the
default small models cannot be asked for reliable calls, which is why validation exists); the last test
asks the real SmolLM2 through its chat template."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from redis.asyncio import Redis

from adapters.http import FencedClient, HostRules
from adapters.orders import OrderApi, OrderSystem, OrderTracker, Refunds
from engine.generation.local import LoadOptions, LocalGenerator
from engine.generation.models import resolve
from engine.pipeline import NoEvents
from engine.protocols import ChatMessage
from engine.stages.act import Act, Consent
from engine.tool_calls import schema, validate_call
from engine.tools import Tools
from engine.types import ConversationRef, Entity, Message, Redacted, Turn
from memory.actions import RedisAuditLog, RedisPendingChoices, RedisProposals
from tests.conftest import TEST_MODEL, model_cache
from tests.order_fake import TOKEN, OrderFake, running
from tests.test_tools import SIGNER

TOOLS = Tools((OrderTracker(None), Refunds(None)))  # type: ignore[arg-type]  # specs only, nothing runs


def turn(text: str, vault: tuple[Redacted, ...] = (), entities: tuple[Entity, ...] = ()) -> Turn:
    message = Message(ConversationRef("rest", "c", "ana"), text, uuid.uuid4().hex)
    return Turn(message=message, vault=vault, entities=entities)


def test_a_valid_call_is_read_from_the_templates_markup_or_bare_json() -> None:
    asked = turn("can u check BC-10001 for me")
    for raw in (
        '<tool_call>\n{"name": "order_status", "arguments": {"order_id": "BC-10001"}}\n</tool_call>',
        'Sure! {"name": "order_status", "arguments": "{\\"order_id\\": \\"10001\\"}"}',
    ):
        call = validate_call(raw, TOOLS, asked)
        assert call.tool == "order_status"
        assert call.arg("order_id") in ("BC-10001", "10001")
        assert call.user_id == "ana"


def test_a_placeholder_the_model_saw_is_read_back_from_the_vault() -> None:
    redacted = turn(
        "where is <ORDER_ID_1> pls",
        vault=(Redacted("<ORDER_ID_1>", "ORDER_ID", "10001"),),
        entities=(Entity("order_id", "10001", "<ORDER_ID_1>"),),
    )
    call = validate_call('{"name": "order_status", "arguments": {"order_id": "<ORDER_ID_1>"}}', TOOLS, redacted)
    assert call.arg("order_id") == "10001"


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("I think you should check the order", "no JSON object"),
        ('{"name": "order_status", "arguments": {"order_id": "BC-10001"', "not valid JSON"),
        ('{"name": "order_status", "arguments": ["BC-10001"]}', "the arguments are not an object"),
        ('{"name": "delete_account", "arguments": {}}', "no tool by that name"),
        ('{"name": "order_status", "arguments": {}}', "takes exactly"),
        ('{"name": "order_status", "arguments": {"order_id": "BC-10001", "customer": "ben"}}', "takes exactly"),
        ('{"name": "order_status", "arguments": {"order_id": 10001}}', "short string"),
        ('{"name": "order_status", "arguments": {"order_id": "BC-10002"}}', "not an order number the user wrote"),
        ('{"name": "refund", "arguments": {"order_id": "<ORDER_ID_7>"}}', "placeholder that is not in this"),
        ('{"name": "order_status", "arguments": {"order_id": "' + "9" * 120 + '"}}', "short string"),
    ],
)
def test_an_invalid_or_invented_call_is_refused(raw: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        validate_call(raw, TOOLS, turn("can u check BC-10001 for me"))


def test_the_model_is_offered_each_tools_schema() -> None:
    offered = schema(TOOLS.by_name["refund"].spec)["function"]
    assert offered["name"] == "refund"
    assert offered["parameters"]["required"] == ["order_id"]
    assert offered["parameters"]["additionalProperties"] is False


class Answers:
    """The model's seat, with fixed answers; keeps what it was offered."""

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self.offered: list[str] = []

    async def propose(self, messages: Sequence[ChatMessage], tools: Sequence[Mapping[str, Any]]) -> str:
        self.offered = [t["function"]["name"] for t in tools]
        return self.raw


async def act_with(redis_client: Redis, key_prefix: str, url: str, raw: str) -> tuple[Act, Answers, FencedClient]:
    client = FencedClient(HostRules(frozenset({"127.0.0.1"}), allow_private=True))
    system = OrderSystem(OrderApi(url, TOKEN, number_prefix="BC-"), client)
    answers = Answers(raw)
    act = Act(
        Tools((OrderTracker(system), Refunds(system)), system),
        Consent(SIGNER, RedisProposals(redis_client, key_prefix)),
        RedisAuditLog(redis_client, key_prefix),
        RedisPendingChoices(redis_client, key_prefix),
        proposer=answers,
    )
    return act, answers, client


@pytest.mark.parametrize(
    ("raw", "runs"),
    [
        ('<tool_call>{"name": "order_status", "arguments": {"order_id": "BC-10001"}}</tool_call>', True),
        ('<tool_call>{"name": "order_status", "arguments": {"order_id": "BC-10002"}}</tool_call>', False),
        ("none", False),
    ],
)
async def test_a_proposed_call_runs_only_when_valid(redis_client: Redis, key_prefix: str, raw: str, runs: bool) -> None:
    fake = OrderFake()
    async with running(fake) as url:
        act, answers, client = await act_with(redis_client, key_prefix, url, raw)
        try:
            message = Message(ConversationRef("rest", "c", "ana"), "could you look into BC-10001", uuid.uuid4().hex)
            done = await act(Turn(message=message, intent="general_question"), NoEvents())
        finally:
            await client.close()
    assert answers.offered == ["order_status", "refund"]
    assert (done.reply is not None) == runs
    assert bool(fake.requests) == runs  # a refused proposal never reaches the order system
    if runs:
        assert done.reply is not None
        assert done.reply.text.startswith("Order BC-10001 is on its way.")


async def test_the_real_model_is_asked_through_its_chat_template_and_never_reaches_another_order(
    redis_client: Redis, key_prefix: str
) -> None:
    resolved = resolve(TEST_MODEL, model_cache())
    generator = LocalGenerator.load(resolved.source, resolved.label, LoadOptions(device="cpu"))
    fake = OrderFake()
    try:
        async with running(fake) as url:
            act, _, client = await act_with(redis_client, key_prefix, url, "")
            act.proposer = generator  # the real model in the seat
            try:
                message = Message(ConversationRef("rest", "c", "ana"), "could you look into BC-10001", "m-real")
                done = await act(Turn(message=message, intent="general_question"), NoEvents())
            finally:
                await client.close()
    finally:
        generator.close()
    # whatever the 135M model wrote: either nothing ran, or a valid call for the user's own number did
    assert fake.requests in ([], ["GET /orders/BC-10001?customer=ana"])
    assert (done.reply is not None) == bool(fake.requests)
