"""Hand-overs are kept: escalation records in real Redis, failures that still answer, Redis trouble mid-reply."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import replace
from typing import Any

import pytest
from redis.asyncio import Redis

from engine import ConversationRef, Engine, Message, Reply, Turn
from engine.handover import (
    RELAYED_INTENT,
    BackgroundRetries,
    EarlierReading,
    FailureFollowUp,
    HandOver,
    PersonHolds,
)
from engine.protocols import EventSink
from engine.replies import reply_text
from engine.stages.recall import Recall, Remember
from engine.types import HistoryEntry
from engine.types import Redacted as VaultItem
from memory.escalations import REPEAT_WINDOW_S, EscalationError, RedisEscalationStore
from memory.store import RedisMemoryStore

CONVERSATION = ConversationRef("test", "conv-1", "user/with:odd*chars")


def message(text: str = "where is my parcel?", conversation: ConversationRef = CONVERSATION) -> Message:
    return Message(conversation, text, message_id=f"m-{abs(hash(text))}")


@pytest.fixture
def escalations(redis_client: Redis, key_prefix: str) -> RedisEscalationStore:
    return RedisEscalationStore(redis_client, prefix=key_prefix)


async def test_an_escalation_moves_open_claimed_resolved(escalations: RedisEscalationStore) -> None:
    opened = await escalations.open(CONVERSATION, "m-1", "not_answerable", "where is my parcel?", "I'll hand over")
    [listed] = await escalations.list("open")
    assert listed == opened
    assert (listed.user_id, listed.message_id, listed.state) == (CONVERSATION.user_id, "m-1", "open")
    claimed = await escalations.claim(CONVERSATION.user_id, opened.id, "agent-ann")
    assert (claimed.state, claimed.claimed_by) == ("claimed", "agent-ann")
    assert await escalations.list("open") == []
    with pytest.raises(EscalationError, match="is claimed, not open"):
        await escalations.claim(CONVERSATION.user_id, opened.id, "agent-bob")
    with pytest.raises(EscalationError, match="claimed by someone else"):
        await escalations.resolve(CONVERSATION.user_id, opened.id, "agent-bob")
    resolved = await escalations.resolve(CONVERSATION.user_id, opened.id, "agent-ann")
    assert resolved.state == "resolved"
    assert [r.id for r in await escalations.list("resolved")] == [opened.id]
    with pytest.raises(EscalationError, match="no escalation"):
        await escalations.claim("someone-else", opened.id, "agent-ann")


async def test_a_conversation_has_one_record_at_a_time(escalations: RedisEscalationStore) -> None:
    # asking again ("hello?? still waiting", a second "Talk to a human") used to open a record each time:
    # two agents could claim one conversation
    first = await escalations.open(CONVERSATION, "m-1", "human_request", "I need a human agent", "Connecting you")
    again = await escalations.open(CONVERSATION, "m-2", "human_request", "hello?? still waiting", "Connecting you")
    assert again.id == first.id
    assert (again.repeats, again.latest_question, again.question) == (
        1,
        "hello?? still waiting",
        "I need a human agent",
    )
    assert [r.id for r in await escalations.list("open")] == [first.id]
    feed: Any = await escalations.client.xrange(escalations.feed_key)
    assert len(feed) == 1, "the agents' channel is told once"
    await escalations.claim(CONVERSATION.user_id, first.id, "agent-ann")
    third = await escalations.open(CONVERSATION, "m-3", "talk_to_human_button", "", "")
    assert (third.id, third.repeats, third.state) == (first.id, 2, "claimed")  # still the claimer's
    # another conversation of the same user is its own hand-over
    elsewhere = await escalations.open(
        ConversationRef("test", "conv-9", CONVERSATION.user_id), "m-4", "error", "q", "r"
    )
    assert elsewhere.id != first.id
    # once resolved, the next hand-over is a new record
    await escalations.resolve(CONVERSATION.user_id, first.id, "agent-ann")
    later = await escalations.open(CONVERSATION, "m-5", "not_answerable", "one more thing", "Connecting you")
    assert later.id != first.id
    assert (later.state, later.repeats) == ("open", 0)


async def test_a_claim_left_quiet_does_not_swallow_a_new_problem_weeks_later(
    escalations: RedisEscalationStore,
) -> None:
    first = await escalations.open(CONVERSATION, "m-1", "human_request", "I need a human agent", "Connecting you")
    await escalations.claim(CONVERSATION.user_id, first.id, "agent-ann")
    clicked = await escalations.open(CONVERSATION, "m-2", "talk_to_human_button", "", "")
    assert (clicked.id, clicked.latest_question) == (first.id, "")  # a click says nothing: nothing overwritten
    asked = await escalations.open(CONVERSATION, "m-3", "human_request", "still there?", "Connecting you")
    assert (asked.id, asked.repeats, asked.latest_question) == (first.id, 2, "still there?")
    again = await escalations.open(CONVERSATION, "m-4", "talk_to_human_button", "", "")
    assert again.latest_question == "still there?"
    # the claim was never resolved and a day has passed: a new problem is a new record, in the queue
    stale = str(time.time() - REPEAT_WINDOW_S - 60)
    await escalations.client.hset(escalations.record_key(CONVERSATION.user_id, first.id), "agent_at", stale)
    later = await escalations.open(CONVERSATION, "m-5", "not_answerable", "a new problem", "Connecting you")
    assert later.id != first.id
    assert [r.id for r in await escalations.list("open")] == [later.id]


async def test_hand_overs_of_one_conversation_at_once_make_one_record(escalations: RedisEscalationStore) -> None:
    opened = await asyncio.gather(
        *(escalations.open(CONVERSATION, f"m-{n}", "human_request", f"agent please {n}", "r") for n in range(8))
    )
    assert len({r.id for r in opened}) == 1
    [record] = await escalations.list("open")
    assert record.repeats == 7


async def test_listing_no_records_lists_none(escalations: RedisEscalationStore) -> None:
    await escalations.open(CONVERSATION, "m-1", "error", "q", "r")
    assert await escalations.list("open", limit=0) == []
    assert await escalations.list("open", limit=-3) == []
    assert len(await escalations.list("open", limit=1)) == 1


async def test_erasing_a_user_removes_their_escalations(escalations: RedisEscalationStore) -> None:
    other = ConversationRef("test", "conv-2", "other-user")
    await escalations.open(CONVERSATION, "m-1", "error", "q", "r")
    kept = await escalations.open(other, "m-2", "error", "q", "r")
    assert await escalations.forget_user(CONVERSATION.user_id) == 1
    assert [r.id for r in await escalations.list("open")] == [kept.id]
    feed: Any = await escalations.client.xrange(escalations.feed_key)
    assert [data["member"] for _, data in feed] == [f"other-user/{kept.id}"], "the feed forgets the user too"


async def test_the_feed_hands_each_escalation_to_one_consumer_with_its_sources(
    escalations: RedisEscalationStore,
) -> None:
    opened = await escalations.open(CONVERSATION, "m-9", "suggested", "q?", "r.", ["https://x.example/a"], 0.7)
    first = await escalations.follow("agents", "worker-1", block_ms=100)
    second = await escalations.follow("agents", "worker-2", block_ms=100)
    assert [(record.id, record.sources, record.confidence, said) for _, record, said in first] == [
        (opened.id, ("https://x.example/a",), 0.7, "")
    ]
    assert second == [], "one consumer of a group gets each entry"
    await escalations.acknowledge("agents", first[0][0])
    assert await escalations.follow("agents", "worker-1", block_ms=100) == []
    # a claim or resolve, wherever it was made, goes into the feed too: a post of the record follows it
    await escalations.claim(CONVERSATION.user_id, opened.id, "ann@help-desk.example")
    [(_, moved, said)] = await escalations.follow("agents", "worker-2", block_ms=100)
    assert (moved.id, moved.state, moved.claimed_by, said) == (opened.id, "claimed", "ann@help-desk.example", "")


class Answer:
    """A scripted stage: replies with a fixed text, escalated or not."""

    def __init__(self, escalated: bool) -> None:
        self.escalated = escalated

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        reply = Reply("Scripted.", (), (), 0.5, "test", "customer", self.escalated, "not_answerable", language="es")
        return turn.evolve(reply=reply)


class Explode:
    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        raise RuntimeError("boom")


class Stall:
    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        await asyncio.sleep(30)
        return turn


async def final(engine: Engine, msg: Message) -> Reply:
    events = [event async for event in engine.handle(msg)]
    reply = events[-1].reply
    assert reply is not None
    return reply


async def test_only_escalated_replies_are_recorded(escalations: RedisEscalationStore) -> None:
    retries = BackgroundRetries()
    await final(Engine([Answer(False), HandOver(escalations, retries)]), message("answered"))
    assert await escalations.list("open") == []
    await final(Engine([Answer(True), HandOver(escalations, retries)]), message("handed over"))
    [record] = await escalations.list("open")
    assert (record.question, record.reply, record.reason) == ("handed over", "Scripted.", "not_answerable")
    assert record.language == "es"  # the agent who takes it knows which language to answer in


@pytest.mark.parametrize(("stage", "reason"), [(Explode(), "error"), (Stall(), "deadline")])
async def test_a_failed_or_late_pipeline_still_answers_keeps_the_message_and_records_it(
    memory: RedisMemoryStore, escalations: RedisEscalationStore, stage: object, reason: str
) -> None:
    retries = BackgroundRetries()
    engine = Engine([stage], deadline_s=0.5, on_failure=FailureFollowUp(memory, escalations, retries))  # type: ignore[list-item]
    reply = await final(engine, message("my card was charged tw\u200bice"))
    assert reply.escalated
    assert reply.reason == reason
    history = await memory.history(CONVERSATION, 10)
    assert [(e.role, e.text) for e in history] == [("user", "my card was charged twice"), ("assistant", reply.text)]
    [record] = await escalations.list("open")
    assert record.reason == reason


async def test_redis_down_costs_history_not_the_reply(caplog: pytest.LogCaptureFixture) -> None:
    down: Redis = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2, socket_timeout=0.2)
    memory = RedisMemoryStore(down, prefix="sbtest-down")
    retries = BackgroundRetries(attempts=1, first_delay_s=0.01)
    with caplog.at_level(logging.WARNING):
        reply = await final(Engine([Recall(memory, 8), Answer(False), Remember(memory, retries)]), message("secret"))
    assert reply.text == "Scripted."
    assert retries.pending == 1, "the history write is retried in the background"
    await retries.drain()
    assert "retrying in the background" in caplog.text
    assert "secret" not in caplog.text, "message text is never logged"
    await down.aclose()


async def test_a_write_that_fails_mid_reply_is_retried_until_redis_answers(
    redis_client: Redis, redis_url: str, key_prefix: str
) -> None:
    slow: Redis = Redis.from_url(redis_url, decode_responses=True, socket_timeout=0.3)
    memory = RedisMemoryStore(slow, prefix=key_prefix)
    retries = BackgroundRetries(attempts=6, first_delay_s=0.3)
    engine = Engine([Recall(memory, 8), Answer(False), Remember(memory, retries)])
    await slow.ping()
    await redis_client.client_pause(1200, all=False)  # real Redis stops taking writes for 1.2 s
    reply = await final(engine, message("remember me"))
    assert reply.text == "Scripted."
    assert retries.pending == 1
    await retries.drain()
    history = await memory.history(CONVERSATION, 10)
    assert [e.text for e in history] == ["remember me", "Scripted."]
    await slow.aclose()


async def test_a_message_while_an_agent_holds_the_conversation_is_theirs(escalations: RedisEscalationStore) -> None:
    opened = await escalations.open(CONVERSATION, "m-1", "human_request", "I need a human agent", "Connecting you")
    assert await escalations.relay(CONVERSATION, "hello?") is None, "open: nobody holds it, the assistant answers"
    await escalations.claim(CONVERSATION.user_id, opened.id, "agent-ann")
    earlier: Any = await escalations.client.xrange(escalations.feed_key)
    claimed = await escalations.get(CONVERSATION.user_id, opened.id)
    assert claimed is not None
    assert claimed.agent_at > 0
    held = await escalations.relay(CONVERSATION, "here is the photo of the crack")
    assert held is not None
    assert held.agent_at == claimed.agent_at, "the customer writing does not keep an absent agent's claim alive"
    assert (held.id, held.customer_messages, held.latest_question) == (opened.id, 1, "here is the photo of the crack")
    feed: Any = await escalations.client.xrange(escalations.feed_key)
    assert len(feed) == len(earlier) + 1
    assert feed[-1][1]["said"] == "here is the photo of the crack"  # for the hand-over's thread
    followed = await escalations.follow("agents-said", "worker-1", block_ms=100)
    assert [(record.id, said) for _, record, said in followed][-1] == (opened.id, "here is the photo of the crack")
    other = ConversationRef("test", "conv-elsewhere", CONVERSATION.user_id)
    assert await escalations.relay(other, "a new question") is None, "another conversation is not held"
    # a claim quiet for a day no longer holds the conversation; nor does a resolved one
    stale = str(time.time() - REPEAT_WINDOW_S - 60)
    await escalations.client.hset(escalations.record_key(CONVERSATION.user_id, opened.id), "agent_at", stale)
    assert await escalations.relay(CONVERSATION, "anyone?") is None
    await escalations.client.hset(escalations.record_key(CONVERSATION.user_id, opened.id), "agent_at", str(time.time()))
    await escalations.resolve(CONVERSATION.user_id, opened.id, "agent-ann")
    assert await escalations.relay(CONVERSATION, "thanks!") is None
    assert [m["text"] for m in await escalations.said(CONVERSATION.user_id, opened.id)] == [
        "here is the photo of the crack"
    ], "what the customer wrote to the agent, kept with the record"
    await escalations.forget_user(CONVERSATION.user_id)
    assert not await escalations.client.exists(escalations.said_key(CONVERSATION.user_id, opened.id))
    feed_after: Any = await escalations.client.xrange(escalations.feed_key)
    assert all("said" not in data for _, data in feed_after), "erasure reaches what the feed carried"


async def test_the_agents_post_finds_its_record_and_erasure_forgets_it(escalations: RedisEscalationStore) -> None:
    opened = await escalations.open(CONVERSATION, "m-1", "human_request", "I need a human agent", "Connecting you")
    await escalations.note_post(CONVERSATION.user_id, opened.id, "CAGENTS", "1700000000.000100")
    found = await escalations.posted("CAGENTS", "1700000000.000100")
    assert found is not None
    assert (found.id, found.agents_post) == (opened.id, "CAGENTS:1700000000.000100")
    assert await escalations.posted("CAGENTS", "1700000000.000999") is None
    await escalations.note_agent_reply(CONVERSATION.user_id, opened.id)
    replied = await escalations.get(CONVERSATION.user_id, opened.id)
    assert replied is not None
    assert (replied.agent_replies, replied.updated_at >= opened.updated_at) == (1, True)
    await escalations.forget_user(CONVERSATION.user_id)
    assert await escalations.posted("CAGENTS", "1700000000.000100") is None
    assert not await escalations.client.exists(escalations.post_key("CAGENTS", "1700000000.000100"))
    await escalations.note_agent_reply(CONVERSATION.user_id, opened.id)  # gone: not made again
    assert await escalations.get(CONVERSATION.user_id, opened.id) is None


async def test_the_assistant_stays_out_of_a_conversation_a_person_holds(escalations: RedisEscalationStore) -> None:
    retries = BackgroundRetries()
    engine = Engine([PersonHolds(escalations, {"test"}), Answer(False), HandOver(escalations, retries)])
    assert (await final(engine, message("where is my parcel?"))).text == "Scripted.", "nobody holds it yet"
    opened = await escalations.open(CONVERSATION, "m-1", "human_request", "I need a human agent", "Connecting you")
    await escalations.claim(CONVERSATION.user_id, opened.id, "agent-ann")
    relayed = await final(engine, message("¿ya revisaron mi caso? sigo esperando una respuesta sobre mi pedido"))
    assert (relayed.intent, relayed.escalated, relayed.language) == (RELAYED_INTENT, False, "es")
    assert relayed.text == reply_text("relayed", "es")
    unreachable = Engine([PersonHolds(escalations, set()), Answer(False)])
    assert (await final(unreachable, message("hello?"))).text == "Scripted.", "no agent's reply could reach it"
    held = await escalations.get(CONVERSATION.user_id, opened.id)
    assert held is not None
    assert held.latest_question == "¿ya revisaron mi caso? sigo esperando una respuesta sobre mi pedido"
    clicked = Message(CONVERSATION, "Track order", "m-click", action="track_order", action_value="BC-1")
    assert (await final(engine, clicked)).text == "Scripted.", "a button click goes its usual way"
    await escalations.resolve(CONVERSATION.user_id, opened.id, "agent-ann")
    assert (await final(engine, message("one more question"))).text == "Scripted."


async def test_a_guarded_message_while_held_reaches_the_agent_with_why(escalations: RedisEscalationStore) -> None:
    opened = await escalations.open(CONVERSATION, "m-1", "human_request", "I need a human agent", "Connecting you")
    await escalations.claim(CONVERSATION.user_id, opened.id, "agent-ann")
    # a guard's hand-over while Ann holds it (self-harm): counted on her record, and kept for her to read
    await escalations.open(CONVERSATION, "m-2", "self_harm", "this is all too much", "We care…")
    await escalations.relay(CONVERSATION, "sorry. anyway, the item was a toaster")
    said = await escalations.said(CONVERSATION.user_id, opened.id)
    assert [(m["text"], m.get("reason")) for m in said] == [
        ("this is all too much", "self_harm"),
        ("sorry. anyway, the item was a toaster", None),
    ]
    feed: Any = await escalations.client.xrange(escalations.feed_key)
    assert [data["said"] for _, data in feed if "said" in data] == [
        "(self_harm) this is all too much",
        "sorry. anyway, the item was a toaster",
    ]


async def test_the_agent_reads_the_order_number_but_not_the_card(escalations: RedisEscalationStore) -> None:
    opened = await escalations.open(CONVERSATION, "m-1", "human_request", "I need a human agent", "Connecting you")
    await escalations.claim(CONVERSATION.user_id, opened.id, "agent-ann")

    class Redacted:  # what RedactPII left: placeholders in the text, the values in the turn's vault
        async def __call__(self, turn: Turn, events: EventSink) -> Turn:
            vault = (
                VaultItem("<ORDER_ID_1>", "ORDER_ID", "12377"),
                VaultItem("<CREDIT_CARD_1>", "CREDIT_CARD", "4111 1111 1111 1111"),
            )
            return turn.evolve(
                message=replace(turn.message, text="order <ORDER_ID_1>, card <CREDIT_CARD_1>"), vault=vault
            )

    engine = Engine([Redacted(), PersonHolds(escalations, {"test"}, {"ORDER_ID"}), Answer(False)])
    await final(engine, message("order 12377, card 4111 1111 1111 1111"))
    [kept] = await escalations.said(CONVERSATION.user_id, opened.id)
    assert kept["text"] == "order 12377, card <CREDIT_CARD_1>"


class AnswerUnless:
    """A scripted stage: answers, and hands over a message that holds `hand_over_on`."""

    def __init__(self, hand_over_on: str) -> None:
        self.hand_over_on = hand_over_on

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        escalated = self.hand_over_on in turn.message.text
        text = "A person will reply." if escalated else f"About {turn.message.text!r}: see the help centre."
        return turn.evolve(reply=Reply(text, (), (), 0.5, "test", "customer", escalated, "human_request"))


async def test_the_agent_reads_what_was_said_before_the_hand_over(
    memory: RedisMemoryStore, escalations: RedisEscalationStore
) -> None:
    # the agent used to get only "i want a human": not what the customer had asked, nor what the bot said
    retries = BackgroundRetries()
    stages = [Recall(memory, 6), AnswerUnless("human"), HandOver(escalations, retries), Remember(memory, retries)]
    engine = Engine(stages)  # type: ignore[arg-type]
    for text in ("my refund never came", "it was order <ORDER_ID_1>, 3 weeks ago", "i want a human"):
        await final(engine, message(text))
    [record] = await escalations.list("open")
    assert record.question == "i want a human"
    assert [(e.role, e.text) for e in record.earlier] == [
        ("customer", "my refund never came"),
        ("assistant", "About 'my refund never came': see the help centre."),
        ("customer", "it was order <ORDER_ID_1>, 3 weeks ago"),  # as history keeps it: redacted
        ("assistant", "About 'it was order <ORDER_ID_1>, 3 weeks ago': see the help centre."),
    ]
    assert await escalations.get(CONVERSATION.user_id, record.id) == record, "read back as written"
    await final(engine, message("hello?? a human please"))  # added to the open record: what led to it stays
    [again] = await escalations.list("open")
    assert (again.repeats, again.earlier) == (1, record.earlier)


async def test_what_was_said_before_is_bounded_and_an_unreadable_field_reads_as_none(
    escalations: RedisEscalationStore,
) -> None:
    said = [("customer" if n % 2 == 0 else "assistant", f"{n}:" + "x" * 3000) for n in range(25)]
    opened = await escalations.open(CONVERSATION, "m-1", "human_request", "human", "ok", earlier=said)
    assert [e.text.split(":")[0] for e in opened.earlier] == [str(n) for n in range(15, 25)], "the latest ten"
    assert {len(e.text) for e in opened.earlier} == {1000}
    key = escalations.record_key(CONVERSATION.user_id, opened.id)
    await escalations.client.hset(key, "earlier", "{not json")
    read = await escalations.get(CONVERSATION.user_id, opened.id)
    assert read is not None
    assert read.earlier == ()
    await escalations.client.hset(key, "earlier", '[{"role": "customer"}]')
    read = await escalations.get(CONVERSATION.user_id, opened.id)
    assert read is not None
    assert read.earlier == ()


class SettleLikeAGuard:
    """A guard that answers before Recall runs (self-harm, a threat): the turn never reads the history."""

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        reply = Reply("We care.", (), (), 1.0, "self_harm", "customer", True, "self_harm")
        return turn.evolve(reply=reply, settled=True)


async def test_a_guarded_or_failed_hand_over_also_shows_the_agent_what_came_before(
    memory: RedisMemoryStore, escalations: RedisEscalationStore
) -> None:
    retries = BackgroundRetries()
    earlier = EarlierReading(memory, 6, 1800)
    now = time.time()
    said = [HistoryEntry("user", "my order never came", now), HistoryEntry("assistant", "Which order?", now)]
    await memory.append(CONVERSATION, said)
    guarded = Engine([SettleLikeAGuard(), Recall(memory, 6), HandOver(escalations, retries, earlier)])
    await final(guarded, message("i cant take this anymore"))
    [record] = await escalations.list("open")
    assert [(e.role, e.text) for e in record.earlier] == [
        ("customer", "my order never came"),
        ("assistant", "Which order?"),
    ]

    other = ConversationRef("test", "conv-2", "user-2")
    await memory.append(other, said)
    failing = Engine([Explode()], on_failure=FailureFollowUp(memory, escalations, retries, None, earlier))
    await final(failing, message("where is it", other))
    [failed] = [r for r in await escalations.list("open") if r.user_id == "user-2"]
    assert [e.text for e in failed.earlier] == ["my order never came", "Which order?"], "read before its own entry"

    stale = ConversationRef("test", "conv-3", "user-3")
    await memory.append(stale, [HistoryEntry("user", "old topic", now - 7200)])
    await final(failing, message("new problem", stale))
    [fresh] = [r for r in await escalations.list("open") if r.user_id == "user-3"]
    assert fresh.earlier == (), "a conversation left idle starts afresh, as Recall reads it"
