"""The act stage against a local order API: lookups, every failure, whose order it is, and refunds with
consent (approve, cancel, replayed, another user's, expired, forged), an idempotent retry, the audit log."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis

from adapters.http import FencedClient, HostRules
from adapters.orders import OrderApi, OrderSystem, OrderTracker, Refunds
from engine.consent import APPROVE, CANCEL, ConsentSigner, Proposal, conversation_digest
from engine.pipeline import NoEvents
from engine.stages.act import Act, Consent
from engine.tools import Failure, ToolCall, ToolError, Tools
from engine.types import ESCALATE_ACTION, Action, ConversationRef, Message, Reply, Turn
from memory.actions import RedisAuditLog, RedisPendingChoices, RedisProposals
from safety.injection import InjectionDetector
from tests.order_fake import TOKEN, OrderFake, running

SIGNER = ConsentSigner(b"a-test-signing-key-of-32-bytes!!")


@dataclass
class Harness:
    act: Act
    audit: RedisAuditLog
    fake: OrderFake

    async def say(
        self,
        user: str,
        text: str,
        intent: str = "general_question",
        conversation: str = "c1",
        click: Action | None = None,
    ) -> Reply | None:
        message = Message(
            ConversationRef("rest", conversation, user),
            text,
            uuid.uuid4().hex,
            action=click.action if click else "",
            action_value=click.value if click else "",
        )
        turn = await self.act(Turn(message=message, intent=intent), NoEvents())
        assert turn.settled == (turn.reply is not None)
        return turn.reply


@asynccontextmanager
async def acting(redis_client: Redis, key_prefix: str, fake: OrderFake | None = None) -> AsyncIterator[Harness]:
    fake = fake or OrderFake()
    async with running(fake) as url:
        client = FencedClient(HostRules(frozenset({"127.0.0.1"}), allow_private=True), max_bytes=64 * 1024)
        system = OrderSystem(OrderApi(url, TOKEN, timeout_s=0.5, number_prefix="BC-"), client)
        audit = RedisAuditLog(redis_client, key_prefix)
        detector = InjectionDetector()
        act = Act(
            Tools((OrderTracker(system), Refunds(system)), system),
            Consent(SIGNER, RedisProposals(redis_client, key_prefix), ttl_s=900),
            audit,
            RedisPendingChoices(redis_client, key_prefix),
            screen=lambda text: detector.check(text) is None,
        )
        try:
            yield Harness(act, audit, fake)
        finally:
            await client.close()


def button(reply: Reply | None, action: str) -> Action:
    assert reply is not None
    return next(a for a in reply.actions if a.action == action)


async def test_a_status_lookup_states_only_what_the_order_system_returned(redis_client: Redis, key_prefix: str) -> None:
    async with acting(redis_client, key_prefix) as h:
        reply = await h.say("ana", "where is my order BC-10001??", "order_status")
        assert reply is not None
        assert reply.reason == "tool_answered"
        assert reply.text.splitlines() == [
            "Order BC-10001 is on its way.",
            "Estimated delivery: Tue 01 Dec 2026.",
            "Carrier: Parcelway, tracking number PW1.",
            "Items: Trail shoes.",
        ]
        assert reply.sources == ["https://track.example/PW1"]  # the tracking page, cited
        assert "GET /orders/BC-10001?customer=ana" in h.fake.requests  # asked with the user's identity


async def test_a_number_written_as_an_orders_is_looked_up_whatever_the_intent(
    redis_client: Redis, key_prefix: str
) -> None:
    async with acting(redis_client, key_prefix) as h:
        reply = await h.say("ana", "wheres #10001 at", "cancel_order")  # the intent was misread
        assert reply is not None
        assert reply.text.startswith("Order BC-10001 is on its way.")
        assert reply.intent == "order_status"
        assert await h.say("ana", "how do I cancel BC-10001", "cancel_order") is None  # no status words: not ours
        # a number that is not surely an order's is not looked up outside an order intent
        asked = len(h.fake.requests)
        assert await h.say("ana", "my payment of 10001 was delayed", "payment_issue") is None
        assert len(h.fake.requests) == asked


@pytest.mark.parametrize(
    ("order", "failure"),
    [
        ("BC-99999", Failure.NOT_FOUND),  # unknown
        ("BC-10002", Failure.NOT_FOUND),  # someone else's: told exactly like an unknown one
        ("BC-20001", Failure.UNAVAILABLE),  # no answer within the timeout
        ("BC-20002", Failure.UNAVAILABLE),  # 5xx
        ("BC-20003", Failure.INVALID),  # not JSON
        ("BC-20004", Failure.INVALID),  # over the size bound
        ("BC-20005", Failure.INVALID),  # a redirect to a host that is not allowed
        ("BC-10008", Failure.INVALID),  # a field that tries to instruct the assistant
    ],
)
async def test_a_failed_lookup_is_said_honestly_with_a_person_offered_never_a_guess(
    redis_client: Redis, key_prefix: str, order: str, failure: Failure, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with acting(redis_client, key_prefix) as h:
        reply = await h.say("ana", f"where is my order {order}", "order_status")
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp.access"))
    assert "failed for message" in ours  # the failure is logged, with the message id
    assert order.removeprefix("BC-") not in ours  # and never the order number (the fake's own access log may)
    assert reply is not None
    assert reply.reason == f"tool_{failure.value}"
    assert ESCALATE_ACTION in reply.actions
    assert not reply.escalated
    assert not reply.citations
    for guessed in ("on its way", "Dec", "delivered", "Ignore", "Parcelway"):
        assert guessed not in reply.text
    assert order in reply.text


async def test_which_order_lists_only_the_users_own_and_the_answer_picks_one(
    redis_client: Redis, key_prefix: str
) -> None:
    async with acting(redis_client, key_prefix) as h:
        question = await h.say("ana", "has my order shipped yet", "order_status")
        assert question is not None
        assert question.reason == "tool_which_order"
        assert "BC-10001" in question.text
        assert "BC-10009" in question.text
        assert "BC-10002" not in question.text  # the system listed ben's order too: never shown to ana
        picked = await h.say("ana", "the one ending 10009", "general_question")
        assert picked is not None
        assert picked.text.startswith("Order BC-10009 is delivered.")
        assert button(picked, "refund_order").value == "BC-10009"  # offered under a delivered order
        # the question was answered once: a later number alone is not read as a choice
        assert await h.say("ana", "10010", "general_question") is None
        await h.say("ana", "where's my stuff", "order_status")
        second = await h.say("ana", "second", "general_question")
        assert second is not None
        assert second.reason == "tool_answered"


async def test_a_general_question_is_left_to_the_help_centre(redis_client: Redis, key_prefix: str) -> None:
    async with acting(redis_client, key_prefix) as h:
        assert await h.say("ana", "how long does shipping to canada take", "order_status") is None
        assert await h.say("ana", "where is my refund", "refund_request") is None  # about one, not asking for one
        assert await h.say("nobody", "where is my order", "order_status") is None  # no orders: nothing to say
        assert h.fake.refunds_made == 0


async def test_a_refund_runs_once_only_after_its_own_user_approves(redis_client: Redis, key_prefix: str) -> None:
    async with acting(redis_client, key_prefix) as h:
        proposal = await h.say("ana", "i want a refund for BC-10009 please", "refund_request")
        assert proposal is not None
        assert proposal.reason == "consent_requested"
        assert "I can refund order BC-10009" in proposal.text
        assert "59.00 USD" in proposal.text
        approve = button(proposal, APPROVE)
        assert h.fake.refunds_made == 0  # proposed, not done

        intruder = await h.say("ben", "Approve", click=approve)
        assert intruder is not None
        assert "Only the person who asked" in intruder.text
        elsewhere = await h.say("ana", "Approve", conversation="c2", click=approve)
        assert elsewhere is not None
        assert "another conversation" in elsewhere.text
        assert h.fake.refunds_made == 0

        done = await h.say("ana", "Approve", click=approve)
        assert done is not None
        assert done.reason == "consent_executed"
        assert "Refund reference: RF-1." in done.text
        assert h.fake.refunds_made == 1
        again = await h.say("ana", "Approve", click=approve)
        assert again is not None
        assert again.reason == "consent_refused"
        assert h.fake.refunds_made == 1

        outcomes = [(e["user"], e["outcome"], e["detail"]) for e in await h.audit.entries("ana")]
        assert outcomes == [
            ("ana", "proposed", ""),
            ("ana", "refused", "another_conversation"),
            ("ana", "executed", "RF-1"),
            ("ana", "refused", "replayed"),
        ]
        assert [(e["outcome"], e["detail"]) for e in await h.audit.entries("ben")] == [("refused", "another_user")]


async def test_cancel_expired_and_forged_approvals_change_nothing(redis_client: Redis, key_prefix: str) -> None:
    async with acting(redis_client, key_prefix) as h:
        proposal = await h.say("ana", "can you refund BC-10009", "refund_request")
        cancelled = await h.say("ana", "Cancel", click=button(proposal, CANCEL))
        assert cancelled is not None
        assert cancelled.reason == "consent_cancelled"
        late = await h.say("ana", "Approve", click=button(proposal, APPROVE))  # the same proposal, after Cancel
        assert late is not None
        assert "already answered" in late.text

        call = ToolCall.of("refund", {"order_id": "BC-10010"}, "ana")
        digest = conversation_digest(ConversationRef("rest", "c1", "ana"))
        expired = SIGNER.sign(Proposal("n-expired", call, digest, time.time() - 1))
        reply = await h.say("ana", "Approve", click=Action("Approve", APPROVE, value=expired))
        assert reply is not None
        assert "expired" in reply.text

        payload, mac = SIGNER.sign(Proposal("n-forged", call, digest, time.time() + 60)).split(".")
        other = ToolCall.of("refund", {"order_id": "BC-10009"}, "ana")
        forged_payload = SIGNER.sign(Proposal("n-forged", other, digest, time.time() + 60)).split(".")[0]
        for token in (f"{forged_payload}.{mac}", "not-a-token", f"{payload}.{'A' * len(mac)}"):
            reply = await h.say("ana", "Approve", click=Action("Approve", APPROVE, value=token))
            assert reply is not None
            assert "not valid" in reply.text
        assert h.fake.refunds_made == 0
        details = [e["detail"] for e in await h.audit.entries("ana") if e["outcome"] == "refused"]
        assert details == ["replayed", "expired", "bad_signature", "bad_signature", "bad_signature"]


async def test_a_refund_whose_answer_was_lost_is_retried_with_the_same_key_and_made_once(
    redis_client: Redis, key_prefix: str
) -> None:
    fake = OrderFake(lose_first_refund_answer=True)
    async with acting(redis_client, key_prefix, fake) as h:
        proposal = await h.say("ana", "please refund order 10009", "refund_request")
        done = await h.say("ana", "Approve", click=button(proposal, APPROVE))
    assert done is not None
    assert done.reason == "consent_executed"
    assert "RF-1" in done.text
    assert fake.refunds_made == 1
    assert [r for r in fake.requests if r.startswith("POST")] == ["POST /orders/BC-10009/refunds"] * 2


async def test_an_order_that_cannot_be_refunded_is_refused_with_the_reason(
    redis_client: Redis, key_prefix: str
) -> None:
    async with acting(redis_client, key_prefix) as h:
        reply = await h.say("ana", "I want my money back for BC-10001", "refund_request")
    assert reply is not None
    assert reply.reason == "tool_refused"
    assert reply.text.startswith("Order BC-10001 is on its way, so I can't refund it here.")
    assert APPROVE not in [a.action for a in reply.actions]


async def test_outbound_requests_stay_inside_the_allowed_hosts() -> None:
    fake = OrderFake()
    async with running(fake) as url:
        public_only = FencedClient(HostRules(frozenset({"127.0.0.1", "localhost"})))
        port = url.rsplit(":", 1)[1]
        try:
            for target in (f"{url}/orders", f"http://localhost:{port}/orders", "http://elsewhere.example/x"):
                with pytest.raises(ToolError) as refused:
                    await public_only.request("GET", target, 2)
                assert refused.value.failure is Failure.INVALID, target
            for target in ("ftp://127.0.0.1/x", "http://user:pw@127.0.0.1/x"):
                with pytest.raises(ToolError):
                    public_only.check(target)
        finally:
            await public_only.close()
        inside = FencedClient(HostRules(frozenset({"127.0.0.1"}), allow_private=True))
        try:
            headers = {"Authorization": f"Bearer {TOKEN}"}
            followed = await inside.request("GET", f"{url}/orders/BC-20006", 2, headers)
            assert followed.status == 200
            assert followed.body["id"] == "BC-10001"
        finally:
            await inside.close()
    assert not [r for r in fake.requests if "localhost" in r]
