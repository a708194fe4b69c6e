"""The assembled pipeline (SmolLM2, MiniLM, FAISS, Redis) driven directly through Engine.handle."""

from __future__ import annotations

from bot.runtime import Runtime
from bot.settings import FileConfig, Settings
from channels.terminal import terminal_message
from engine.pipeline import NoEvents
from engine.stages import Decide, Retrieve, Weigh
from engine.types import EventKind, HistoryEntry, Turn


async def test_a_knowledge_question_streams_status_tokens_then_a_cited_reply(runtime: Runtime) -> None:
    message = terminal_message("e2e-user", "e2e-conv", "how long have i got to send something back?")
    events = [event async for event in runtime.engine.handle(message)]
    kinds = [event.kind for event in events]
    assert kinds[-1] is EventKind.FINAL
    assert kinds.count(EventKind.FINAL) == 1
    assert EventKind.STATUS in kinds
    assert kinds.count(EventKind.TOKEN) > 1, "the answer arrives as several streamed pieces"
    reply = events[-1].reply
    assert reply is not None
    assert not reply.escalated
    assert reply.reason == "answered"
    assert "30 days" in reply.text
    assert "".join(e.text for e in events if e.kind is EventKind.TOKEN).strip() == reply.text
    assert "https://help.brightcart.example/returns/policy" in reply.sources
    assert reply.confidence >= runtime_threshold(runtime)


async def test_a_question_the_help_centre_does_not_answer_is_handed_over_unstreamed(runtime: Runtime) -> None:
    message = terminal_message("e2e-user", "e2e-conv-2", "what is the boiling point of mercury on mars?")
    events = [event async for event in runtime.engine.handle(message)]
    reply = events[-1].reply
    assert reply is not None
    assert reply.escalated
    assert reply.reason in {"no_evidence", "not_answerable"}
    assert not [e for e in events if e.kind is EventKind.TOKEN], "nothing is streamed that the reply withdraws"
    assert any(a.action == "escalate" for a in reply.actions)
    assert reply.sources == []


def runtime_threshold(runtime: Runtime) -> float:
    decide = next(stage for stage in runtime.engine.stages if isinstance(stage, Decide))
    return decide.policy.answer_threshold


async def test_the_next_turn_reads_the_conversation_and_only_its_own(runtime: Runtime) -> None:
    first = terminal_message("recall-user", "recall-conv", "How long do I have to return an item?")
    [e async for e in runtime.engine.handle(first)]
    follow_up = terminal_message("recall-user", "recall-conv", "And for holiday purchases?")
    events = [e async for e in runtime.engine.handle(follow_up)]
    reply = events[-1].reply
    assert reply is not None
    assert not reply.escalated
    assert "January 31" in reply.text, "the follow-up was read with the question before it"
    elsewhere = terminal_message("recall-user", "another-conv", "And for holiday purchases?")
    alone = [e async for e in runtime.engine.handle(elsewhere)][-1].reply
    assert alone is not None
    assert alone.escalated, "another conversation has no earlier question to read it with"


async def test_a_standalone_question_after_another_topic_is_answered_on_its_own(runtime: Runtime) -> None:
    # joined to the earlier question, the search matched the earlier page better (its words dominate); the
    # judge's evidence for the message alone decides (a helper's probe: the price table, handed over)
    alone = terminal_message("topic-user", "topic-fresh", "can i exchange for a different size")
    fresh = [e async for e in runtime.engine.handle(alone)][-1].reply
    first = terminal_message("topic-user", "topic-conv", "How much does express shipping cost?")
    [e async for e in runtime.engine.handle(first)]
    after = terminal_message("topic-user", "topic-conv", "can i exchange for a different size")
    reply = [e async for e in runtime.engine.handle(after)][-1].reply
    assert fresh is not None
    assert reply is not None
    assert not fresh.escalated
    assert (reply.text, reply.sources, reply.escalated) == (fresh.text, fresh.sources, fresh.escalated)


async def test_a_follow_up_whose_joined_search_was_all_quarantined_is_judged_on_its_own(runtime: Runtime) -> None:
    retrieve = next(stage for stage in runtime.engine.stages if isinstance(stage, Retrieve))
    weigh = next(stage for stage in runtime.engine.stages if isinstance(stage, Weigh))
    message = terminal_message("q-user", "q-conv", "can i exchange for a different size")
    own = await retrieve(Turn(message=message), NoEvents())
    assert own.alone is None  # a message alone carries no second search
    # what QuarantinePassages leaves when every passage of the joined search carried instructions
    emptied = own.evolve(retrieved=(), alone=(own.retrieved, own.query_vector), follows_up="How much is express?")
    judged = await weigh(emptied, NoEvents())
    assert judged.evidence
    assert judged.follows_up == ""
    assert judged.alone is None
    assert judged.answerability == (await weigh(own, NoEvents())).answerability


async def test_invisible_characters_are_not_stored_in_history(runtime: Runtime) -> None:
    message = terminal_message("clean-user", "clean-conv", "He\u200bllo\u202e")
    [e async for e in runtime.engine.handle(message)]
    history = await runtime.memory.history(message.conversation, 10)
    assert history[0].text == "Hello"


async def test_a_follow_up_is_searched_in_the_context_of_the_previous_question(runtime: Runtime) -> None:
    retrieve = next(stage for stage in runtime.engine.stages if isinstance(stage, Retrieve))
    follow_up = terminal_message("fu-user", "fu-conv", "And for holiday purchases?")
    alone = await retrieve(Turn(message=follow_up), NoEvents())
    history = (HistoryEntry("user", "How long do I have to return an item?"), HistoryEntry("assistant", "30 days."))
    in_context = await retrieve(Turn(message=follow_up, history=history), NoEvents())
    assert max(h.score for h in in_context.retrieved) > max(h.score for h in alone.retrieved)
    assert in_context.retrieved[0].passage.section == "Holiday purchases"
    assert in_context.follows_up == "How long do I have to return an item?"
    assert alone.follows_up == ""
    standalone = terminal_message("fu-user", "fu-conv", "Do you ship to Canada?")
    unaffected = await retrieve(Turn(message=standalone, history=history), NoEvents())
    assert unaffected.retrieved[0].passage.url.endswith("/shipping/international")


async def test_compose_mode_rephrases_with_the_model_or_falls_back_to_the_sentences(
    settings: Settings, file_config: FileConfig
) -> None:
    """SmolLM2 rephrases the chosen sentences; its text is kept only if faithful, else the verbatim
    sentences are the final reply (channels then show the final text in place of the stream)."""
    compose = file_config.model_copy(
        update={"generation": file_config.generation.model_copy(update={"mode": "compose"})}
    )
    started = await Runtime.start(settings, compose)
    try:
        assert started.generator is not None, "compose mode loads the model"
        message = terminal_message("compose-user", "compose-conv", "how long have i got to send something back?")
        events = [event async for event in started.engine.handle(message)]
    finally:
        await started.close()
    reply = events[-1].reply
    assert reply is not None
    assert not reply.escalated
    streamed = "".join(e.text for e in events if e.kind is EventKind.TOKEN).strip()
    assert streamed, "the model's words were streamed"
    if reply.text == streamed:  # kept: faithful, so it states the best sentence's number
        assert "30" in reply.text
    else:  # withdrawn: the help centre's own sentences replace it
        assert "You have **30 days from delivery** to return an item." in reply.text
    assert "https://help.brightcart.example/returns/policy" in reply.sources
