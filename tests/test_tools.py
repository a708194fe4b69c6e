"""The act stage against a local order API: lookups, every failure, whose order it is, and refunds with
consent (approve, cancel, replayed, another user's, expired, forged), an idempotent retry, the audit log."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from redis.asyncio import Redis

from adapters.http import FencedClient, HostRules, is_private, refuse_downgrade
from adapters.orders import REFUNDS, OrderApi, OrderSystem, OrderTracker, Refunds
from engine.consent import APPROVE, CANCEL, ConsentSigner, Proposal, conversation_digest
from engine.pipeline import NoEvents
from engine.replies import escalate_action, label_language, reply_text
from engine.stages.act import Act, Consent
from engine.tools import Failure, ToolCall, ToolError, ToolResult, Tools, ToolSpec
from engine.types import ESCALATE_ACTION, NO_ORDERS, Action, ConversationRef, Message, Reply, Turn
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
            company="Brightcart",
        )
        try:
            yield Harness(act, audit, fake)
        finally:
            await client.close()


def spoken(user: str, text: str, intent: str, language: str) -> Turn:
    """A turn whose language the engine has already told (as `Engine.run` does before the stages)."""
    message = Message(ConversationRef("rest", "c1", user), text, uuid.uuid4().hex)
    return Turn(message=message, intent=intent, language=language)


def said(reply: Reply | None, reason: str) -> Reply:
    """The reply, given for this reason."""
    assert reply is not None
    assert reply.reason == reason, reply.text
    return reply


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


async def test_a_customer_writing_spanish_is_told_of_a_failure_and_offered_buttons_in_spanish(
    redis_client: Redis, key_prefix: str
) -> None:
    async with acting(redis_client, key_prefix) as h:
        lost = await h.act(spoken("ana", "¿dónde está mi pedido BC-99999?", "order_status", "es"), NoEvents())
        down = await h.act(spoken("ana", "¿dónde está mi pedido BC-20002?", "order_status", "es"), NoEvents())
        proposal = await h.act(
            spoken("ana", "refund BC-10009 please", "refund_request", "es"),
            NoEvents(),  # es: told earlier
        )
    assert lost.reply is not None
    assert lost.reply.text == reply_text("order_not_found", "es", order="BC-99999")
    assert lost.reply.language == "es"  # our own wording, in the customer's language
    assert lost.reply.actions == (escalate_action("es"),)
    assert down.reply is not None  # the built-in order tools have no title: the company names the system
    assert down.reply.text == reply_text("order_unavailable", "es", system="Brightcart", order="BC-20002")
    assert proposal.reply is not None  # the built-in tools speak the reply languages
    spanish, written = REFUNDS.wording("es")
    assert written == "es"
    assert proposal.reply.text.splitlines()[0] == spanish.proposal[0].format(order_id="BC-10009")
    assert proposal.reply.text != REFUNDS.wording("en")[0].proposal[0].format(order_id="BC-10009")
    assert proposal.reply.language == "es"
    labels = {a.action: a.label for a in proposal.reply.actions}
    assert labels[APPROVE] == reply_text("approve", "es") != "Approve"
    assert labels[CANCEL] == reply_text("cancel", "es") != "Cancel"
    # the click carries the label: its language is told from our own labels, however short
    assert label_language(labels[APPROVE]) == "es"


async def test_which_order_lists_only_the_users_own_and_the_answer_picks_one(
    redis_client: Redis, key_prefix: str
) -> None:
    async with acting(redis_client, key_prefix) as h:
        question = said(await h.say("ana", "has my order shipped yet", "order_status"), "tool_which_order")
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


async def test_which_order_is_answered_by_its_place_in_the_customers_language(
    redis_client: Redis, key_prefix: str
) -> None:
    rounds = [
        ("¿dónde está mi pedido?", "el segundo", "es", 1),
        ("我的订单到哪了", "最后一个", "zh", -1),
        ("wo ist mein Paket", "die erste bitte", "de", 0),
    ]
    async with acting(redis_client, key_prefix) as h:
        for asked, answer, language, place in rounds:
            question = await h.act(spoken("ana", asked, "order_status", language), NoEvents())
            question_reply = said(question.reply, "tool_which_order")
            listed = [line[2:].split(":")[0] for line in question_reply.text.splitlines() if line.startswith("• ")]
            # a short answer: its language is the conversation's ("el segundo" alone tells none)
            picked = await h.act(spoken("ana", answer, "general_question", language), NoEvents())
            assert picked.reply is not None, answer  # the order it picks is looked up (one of ana's is unreadable)
            assert listed[place] in picked.reply.text.splitlines()[0], answer
            assert all(other not in picked.reply.text for other in listed if other != listed[place]), answer
        # two places name none
        await h.act(spoken("ana", "¿dónde está mi pedido?", "order_status", "es"), NoEvents())
        unsure = await h.act(spoken("ana", "el primero no, el segundo", "general_question", "es"), NoEvents())
        assert unsure.reply is None


async def test_a_general_question_is_left_to_the_help_centre(redis_client: Redis, key_prefix: str) -> None:
    async with acting(redis_client, key_prefix) as h:
        assert await h.say("ana", "how long does shipping to canada take", "order_status") is None
        assert await h.say("ana", "where is my refund", "refund_request") is None  # about one, not asking for one
        assert h.fake.refunds_made == 0


async def test_a_customer_with_no_orders_is_flagged_for_the_hand_over_and_left_to_the_help_centre(
    redis_client: Redis, key_prefix: str
) -> None:
    # the help centre still answers what it can; where it cannot, the hand-over says that the account shows no
    # orders, not that the help centre has no answer (test_decide.py). No number is asked for: the order
    # system answers only for the user's own orders, and there are none.
    async with acting(redis_client, key_prefix) as h:

        async def flagged(text: str, intent: str = "order_status") -> bool:
            message = Message(ConversationRef("rest", "c1", "nobody"), text, uuid.uuid4().hex)
            turn = await h.act(Turn(message=message, intent=intent), NoEvents())
            assert turn.reply is None, text
            assert not turn.settled, text
            return NO_ORDERS in turn.flags

        assert await flagged("where is my order")
        assert await flagged("has my package shipped?")
        assert await h.say("nobody", "10001", "general_question") is None  # nothing pending: not a choice
        assert not await flagged("how long does shipping to canada take")  # not about their own order
        assert not await flagged("where is my order", "greeting")  # no order tool for this intent
        # someone with orders is never flagged
        message = Message(ConversationRef("rest", "c2", "ana"), "where is my order", uuid.uuid4().hex)
        assert NO_ORDERS not in (await h.act(Turn(message=message, intent="order_status"), NoEvents())).flags
        assert h.fake.refunds_made == 0


async def test_english_refund_messages_read_as_they_always_did(redis_client: Redis, key_prefix: str) -> None:
    """Words of other languages never change what an English message asks (a reviewer's cases)."""
    async with acting(redis_client, key_prefix) as h:
        for about_one in ("When does my refund start?", "Did my refund start yet?", "Refunded yet? 10009"):
            assert await h.say("ana", about_one, "refund_request") is None, about_one
        assert await h.say("ana", "Refund to PayPal?", "refund_request") is None  # Vietnamese "tớ" is not "to"
        long_ask = said(
            await h.say("ana", "Refund 10009 because the item arrived broken", "refund_request"), "consent_requested"
        )
        assert long_ask.text.startswith("I can refund order BC-10009")
        assert long_ask.language == "en"  # the built-in tools' English, claimed as such
        assert h.fake.refunds_made == 0


async def test_a_refund_said_to_have_arrived_is_not_proposed_again(redis_client: Redis, key_prefix: str) -> None:
    async with acting(redis_client, key_prefix) as h:
        for told in (
            "refund for order 10009 came through",
            "Refund #10009 finally came through!",
            "refund 10009 done, ty",
            "got my refund for 10009, thanks",
            "Refund for 10009 went through, I sent it back",
            "Refund no. 10009 came through",
            "my refund came through, thanks, can you confirm the amount?",
        ):
            assert await h.say("ana", told, "refund_request") is None, told
        for asked in (
            "refund 10009, it never came through",
            "refund 10009 hasn\u2019t arrived, refund me",
            "refund order 10009 received damaged",
            "my refund came through but I want another for 10009",  # a reviewer's cases
            "got my refund, please refund 10009 too",
        ):
            turn = await h.say("ana", asked, "refund_request")
            assert said(turn, "consent_requested").text.startswith("I can refund order BC-10009"), asked
        assert h.fake.refunds_made == 0


@dataclass
class Fixed:
    """A tool of the operator's with an English template: its reply claims no language."""

    spec = ToolSpec(name="warranty", intents=("warranty",), reply=("Warranty for {order_id}: {years} years.",))

    async def run(self, call: ToolCall, idempotency_key: str) -> ToolResult:
        return ToolResult.of({"years": 2})

    async def preview(self, call: ToolCall) -> ToolResult:
        return ToolResult(())


async def test_an_operators_template_is_said_as_written_and_claims_no_language(
    redis_client: Redis, key_prefix: str
) -> None:
    act = Act(
        Tools((Fixed(),)),
        Consent(SIGNER, RedisProposals(redis_client, key_prefix)),
        RedisAuditLog(redis_client, key_prefix),
        RedisPendingChoices(redis_client, key_prefix),
    )
    turn = await act(spoken("ana", "¿cuánto dura la garantía del pedido BC-10001?", "warranty", "es"), NoEvents())
    assert turn.reply is not None
    assert turn.reply.text == "Warranty for BC-10001: 2 years."
    assert turn.reply.language == ""


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
        assert details == ["replayed", "expired", "bad_signature", "bad_token", "bad_signature"]


async def test_a_refund_whose_answer_was_lost_is_retried_with_the_same_key_and_made_once(
    redis_client: Redis, key_prefix: str
) -> None:
    fake = OrderFake(lose_first_refund_answer=True)
    async with acting(redis_client, key_prefix, fake) as h:
        proposal = await h.say("ana", "please refund order 10009", "refund_request")
        done = said(await h.say("ana", "Approve", click=button(proposal, APPROVE)), "consent_executed")
    assert "RF-1" in done.text
    assert fake.refunds_made == 1
    assert [r for r in fake.requests if r.startswith("POST")] == ["POST /orders/BC-10009/refunds"] * 2


async def test_an_order_that_cannot_be_refunded_is_refused_with_the_reason(
    redis_client: Redis, key_prefix: str
) -> None:
    async with acting(redis_client, key_prefix) as h:
        reply = said(await h.say("ana", "I want my money back for BC-10001", "refund_request"), "tool_refused")
    assert reply.text.startswith("Order BC-10001 is on its way, so I can't refund it here.")
    assert APPROVE not in [a.action for a in reply.actions]


async def test_an_answer_lost_twice_is_said_honestly_finished_once_and_never_cancelled(
    redis_client: Redis, key_prefix: str
) -> None:
    fake = OrderFake(refund_outage=True)
    async with acting(redis_client, key_prefix, fake) as h:
        proposal = await h.say("ana", "please refund BC-10009", "refund_request")
        approve, cancel = button(proposal, APPROVE), button(proposal, CANCEL)
        lost = said(await h.say("ana", "Approve", click=approve), "tool_unavailable")
        assert "may or may not have gone through" in lost.text
        assert button(lost, APPROVE).value == approve.value  # the same proposal, the same key
        refused = await h.say("ana", "Cancel", click=cancel)
        assert refused is not None
        assert "can't cancel" in refused.text
        fake.refund_outage = False
        done = await h.say("ana", "Approve", click=approve)
        assert done is not None
        assert done.reason == "consent_executed"
        again = await h.say("ana", "please refund BC-10009", "refund_request")
        assert again is not None
        assert again.text.startswith("Order BC-10009 is refunded, so I can't refund it here.")
        outcomes = [(e["outcome"], e["detail"].split(":")[0]) for e in await h.audit.entries("ana")]
    assert fake.refunds_made == 1  # one refund, whatever was pressed
    assert outcomes[:4] == [
        ("proposed", ""),
        ("failed", "unavailable"),
        ("refused", "cancel_after_attempt"),
        ("executed", "RF-1"),
    ]


async def test_two_clicks_at_once_run_the_refund_once(redis_client: Redis, key_prefix: str) -> None:
    async with acting(redis_client, key_prefix) as h:
        proposal = await h.say("ana", "i need a refund on BC-10009", "refund_request")
        approve = button(proposal, APPROVE)
        first, second = await asyncio.gather(
            h.say("ana", "Approve", click=approve), h.say("ana", "Approve", click=approve)
        )
    assert first is not None
    assert second is not None
    assert sorted([first.reason, second.reason]) == ["consent_executed", "consent_refused"]
    assert h.fake.refunds_made == 1


async def test_a_refund_is_chosen_through_which_order_and_a_new_request_overrides_a_question(
    redis_client: Redis, key_prefix: str
) -> None:
    async with acting(redis_client, key_prefix) as h:
        question = said(await h.say("ana", "I want a refund please", "refund_request"), "tool_which_order")
        assert "BC-10001" not in question.text  # only orders a refund can be asked for (delivered ones)
        proposal = await h.say("ana", "10010", "general_question")
        assert proposal is not None
        assert proposal.text.startswith("I can refund order BC-10010")

        await h.say("ana", "where is my order", "order_status")  # a "which order?" for the status
        overridden = await h.say("ana", "actually i want a refund for BC-10009 please", "refund_request")
        assert overridden is not None
        assert overridden.text.startswith("I can refund order BC-10009")


async def test_a_token_that_is_not_ascii_is_refused_not_a_crash(redis_client: Redis, key_prefix: str) -> None:
    async with acting(redis_client, key_prefix) as h:
        reply = await h.say("ana", "Approve", click=Action("Approve", APPROVE, value="abc.é"))
    assert reply is not None
    assert "not valid" in reply.text


async def test_a_proposal_that_cannot_be_kept_is_not_offered(key_prefix: str) -> None:
    dead: Redis = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2)  # nothing listens there
    async with acting(dead, key_prefix) as h:
        reply = await h.say("ana", "please refund BC-10009", "refund_request")
    await dead.aclose()
    assert reply is not None
    assert reply.reason == "tool_unavailable"
    assert APPROVE not in [a.action for a in reply.actions]
    assert h.fake.refunds_made == 0


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("8.8.8.8", False),
        ("2606:4700::1111", False),
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("169.254.169.254", True),  # cloud metadata
        ("::1", True),
        ("fe80::1", True),
        ("::ffff:10.0.0.1", True),  # IPv4-mapped
        ("64:ff9b::a00:1", True),  # NAT64 of 10.0.0.1
        ("2002:a00:1::", True),  # 6to4 of 10.0.0.1
        ("::127.0.0.1", True),  # IPv4-compatible
        ("not-an-address", True),
    ],
)
def test_private_addresses_are_recognised_however_they_are_written(address: str, private: bool) -> None:
    assert is_private(address) is private


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
        assert fake.requests == []  # refused before any connection: the name's loopback address too


@dataclass
class Hops:
    """Redirects to wherever it is told, and an endpoint that shows what reached it."""

    seen: list[dict[str, str]]

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/echo", self.echo)
        app.router.add_route("*", "/hop", self.hop)
        return app

    async def echo(self, request: web.Request) -> web.Response:
        self.seen.append({"method": request.method, "auth": request.headers.get("Authorization", "")})
        return web.json_response({"ok": True})

    async def hop(self, request: web.Request) -> web.Response:
        status = int(request.query.get("status", "302"))
        return web.Response(status=status, headers={"Location": request.query["to"]})


async def test_redirects_keep_the_token_on_its_own_origin_and_refuse_downgrades() -> None:
    hops = Hops([])
    first, second = TestServer(hops.app(), host="127.0.0.1"), TestServer(hops.app(), host="127.0.0.1")
    await first.start_server()
    await second.start_server()
    client = FencedClient(HostRules(frozenset({"127.0.0.1"}), allow_private=True))
    token = {"Authorization": "Bearer secret-token"}
    try:
        here, there = str(first.make_url("/echo")), str(second.make_url("/echo"))
        await client.request("GET", f"{first.make_url('/hop')}?to={here}", 2, token)
        await client.request("GET", f"{first.make_url('/hop')}?to={there}", 2, token)  # another port
        await client.request("POST", f"{first.make_url('/hop')}?to={here}&status=303", 2, token, {"a": 1})
        assert hops.seen == [
            {"method": "GET", "auth": "Bearer secret-token"},
            {"method": "GET", "auth": ""},  # another origin never sees the token
            {"method": "GET", "auth": "Bearer secret-token"},  # 303: the follow-up is a GET
        ]
        for location in ("http://[::1", "ftp://127.0.0.1/x"):
            with pytest.raises(ToolError) as refused:
                await client.request("GET", f"{first.make_url('/hop')}?to={location}", 2)
            assert refused.value.failure is Failure.INVALID
    finally:
        await client.close()
        await first.close()
        await second.close()


def test_a_redirect_from_https_to_plain_http_is_refused() -> None:
    refuse_downgrade("https://orders.example/a", "https://orders.example/b")
    refuse_downgrade("http://orders.example/a", "http://orders.example/b")
    with pytest.raises(ToolError, match="https to plain http"):
        refuse_downgrade("https://orders.example/a", "http://orders.example/b")
