"""Every branch of Generate and Decide, driven through the engine with a scripted generator (the model edge)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import replace

import pytest

from engine import ConversationRef, Engine, EventKind, Message, Reply, Turn
from engine.pipeline import NoEvents
from engine.policy import IntentSpec, PolicyConfig
from engine.protocols import ChatMessage, EventSink, GenerationParams, PromptTooLong
from engine.replies import reply_text
from engine.stages import Decide, Generate
from engine.stages.decide import HANDOFF_TEXT, NOT_FOUND_TEXT
from engine.stages.generate import Persona
from engine.types import NO_ORDERS, Action, Evidence, Passage, TokenStats
from safety.sanitize import SanitizeInput

POLICY = PolicyConfig(answer_threshold=0.8, suggest_threshold=0.5)
RETURNS = Passage("r1", "Return policy", "https://x.example/returns", "Window", "")
REFUNDS = Passage("f1", "Refunds", "https://x.example/refunds", "", "")
EVIDENCE = (
    Evidence(RETURNS, "You have 30 days from delivery to return an item.", 0.8, 0.7, 0, 0.9),
    Evidence(REFUNDS, "Refunds reach your card within 5 business days.", 0.5, 0.6, 1, 0.3),
)
INTENTS = {
    "talk_to_human": IntentSpec("talk_to_human", ("a person",), escalate=True),
    "greeting": IntentSpec("greeting", ("hi",), response="Hello! How can I help?"),
    "return_item": IntentSpec("return_item", ("return",), actions=(Action("Start a return", "start_return"),)),
}


class ScriptedModel:
    """The model edge: streams a fixed text, or fails the way a real one can (an error, or no answer at all)."""

    def __init__(
        self, text: str = "", error: Exception | None = None, stats: TokenStats | None = None, hang: bool = False
    ) -> None:
        self.text = text
        self.error = error
        self.stats = stats
        self.hang = hang
        self.prompts: list[Sequence[ChatMessage]] = []
        self.params: list[GenerationParams] = []

    @property
    def name(self) -> str:
        return "scripted"

    async def stream(
        self,
        messages: Sequence[ChatMessage],
        params: GenerationParams,
        on_stats: Callable[[TokenStats], None] | None = None,
    ) -> AsyncIterator[str]:
        self.prompts.append(messages)
        self.params.append(params)
        if self.hang:
            await asyncio.sleep(3600)
        if self.error is not None:
            raise self.error
        for word in self.text.split(" "):
            yield word + " "
        if on_stats is not None and self.stats is not None:
            on_stats(self.stats)


class Given:
    """Sets what earlier stages would have found."""

    def __init__(
        self, intent: str, evidence: tuple[Evidence, ...], answerability: float, flags: tuple[str, ...] = ()
    ) -> None:
        self.changes = {"intent": intent, "evidence": evidence, "answerability": answerability, "flags": flags}

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        return turn.evolve(**self.changes)


async def run(
    model: ScriptedModel,
    intent: str = "return_item",
    evidence: tuple[Evidence, ...] = EVIDENCE,
    best: float = 0.9,
    flags: tuple[str, ...] = (),
    reachable: frozenset[str] | None = None,
) -> tuple[Reply, str]:
    if evidence:  # the best sentence carries the judge's support for this case
        evidence = (replace(evidence[0], support=best), *evidence[1:])
    generate = Generate(model, GenerationParams(), POLICY, INTENTS, Persona(), mode="compose")
    engine = Engine([Given(intent, evidence, best, flags), generate, Decide(POLICY, INTENTS)], reachable=reachable)
    message = Message(ConversationRef("test", "c", "u"), "how long do i have to send it back", message_id="m1")
    events = [e async for e in engine.handle(message)]
    final = events[-1].reply
    assert final is not None
    streamed = "".join(e.text for e in events if e.kind is EventKind.TOKEN)
    return final, streamed


async def test_a_faithful_rephrasing_is_the_answer_with_its_page_and_buttons() -> None:
    model = ScriptedModel("You have 30 days from delivery to return an item.")
    reply, streamed = await run(model)
    assert (reply.reason, reply.escalated) == ("answered", False)
    assert reply.text == "You have 30 days from delivery to return an item."
    assert streamed.strip() == reply.text
    assert reply.sources == ["https://x.example/returns"]
    assert [a.action for a in reply.actions] == ["start_return"]
    assert "30 days from delivery" in model.prompts[0][0].content


async def test_the_models_token_statistics_stay_on_the_turn_with_its_words() -> None:
    stats = TokenStats(tokens=11, mean_logprob=-0.4, min_logprob=-3.2)
    faithful = ScriptedModel("You have 30 days from delivery to return an item.", stats=stats)
    generate = Generate(faithful, GenerationParams(), POLICY, INTENTS, Persona(), mode="compose")
    message = Message(ConversationRef("test", "c", "u"), "how long do i have to send it back", message_id="m1")
    given = await Given("return_item", EVIDENCE, 0.9)(Turn(message), NoEvents())
    assert (await generate(given, NoEvents())).token_stats == stats
    invented = ScriptedModel("You have 60 days to return an item.", stats=stats)
    generate = Generate(invented, GenerationParams(), POLICY, INTENTS, Persona(), mode="compose")
    replaced = await generate(given, NoEvents())
    assert replaced.token_stats is None  # the verbatim sentences answer: the model's figures do not apply
    assert replaced.draft == "You have 30 days from delivery to return an item."


async def test_the_reply_metadata_carries_the_models_statistics_only_for_its_own_words() -> None:
    stats = TokenStats(tokens=11, mean_logprob=-0.41234, min_logprob=-3.2)
    written, _ = await run(ScriptedModel("You have 30 days from delivery to return an item.", stats=stats))
    assert written.token_stats == stats
    generation = written.to_json()["metadata"]["generation"]
    assert generation == {"tokens": 11, "mean_logprob": -0.412, "min_logprob": -3.2}
    verbatim, _ = await run(ScriptedModel("You have 60 days to return an item.", stats=stats))
    assert verbatim.token_stats is None
    assert "generation" not in verbatim.to_json()["metadata"]


async def test_a_rephrasing_that_adds_a_number_is_replaced_by_the_verbatim_sentences() -> None:
    reply, streamed = await run(ScriptedModel("You have 60 days to return an item."))
    assert reply.reason == "answered"
    assert "60 days" in streamed, "the stream showed the model's text"
    assert reply.text == "You have 30 days from delivery to return an item.", "the final reply is authoritative"


async def test_a_prompt_over_budget_is_answered_with_the_verbatim_sentences() -> None:
    reply, _ = await run(ScriptedModel(error=PromptTooLong(5000, 1024)))
    assert (reply.reason, reply.escalated) == ("answered", False)
    assert reply.text == "You have 30 days from delivery to return an item."


async def test_a_model_failure_is_a_hand_over_not_silence() -> None:
    reply, _ = await run(ScriptedModel(error=RuntimeError("CUDA out of memory")))
    assert reply.escalated
    assert reply.intent == "error"
    assert any(a.action == "escalate" for a in reply.actions)


async def test_the_suggestion_band_hands_over_and_shows_the_closest_sentence_without_the_model() -> None:
    model = ScriptedModel("unused")
    reply, streamed = await run(model, best=0.6)
    assert (reply.reason, reply.escalated) == ("suggested", True)
    assert "The closest I found" in reply.text
    assert "30 days from delivery" in reply.text
    assert "5 business days" in reply.text, "a sentence supported within second_within of the best joins it"
    assert reply.sources == ["https://x.example/returns", "https://x.example/refunds"]
    assert reply.actions[-1].action == "escalate"
    assert model.prompts == [], "an uncertain answer never reaches the model"
    assert streamed == ""


async def test_below_the_suggestion_band_is_handed_over_without_sources() -> None:
    reply, _ = await run(ScriptedModel("unused"), best=0.2)
    assert (reply.reason, reply.escalated, reply.text) == ("not_answerable", True, NOT_FOUND_TEXT)
    assert reply.sources == []


async def test_no_evidence_is_handed_over() -> None:
    reply, _ = await run(ScriptedModel("unused"), evidence=(), best=0.0)
    assert (reply.reason, reply.escalated, reply.text) == ("no_evidence", True, NOT_FOUND_TEXT)


@pytest.mark.parametrize(("best", "evidence"), [(0.2, EVIDENCE), (0.0, ())])
async def test_about_an_order_the_account_does_not_show_the_hand_over_says_why(
    best: float, evidence: tuple[Evidence, ...]
) -> None:
    # not "I couldn't find an answer in our help centre": the account shows no orders, a person looks it up
    reply, streamed = await run(ScriptedModel("unused"), evidence=evidence, best=best, flags=(NO_ORDERS,))
    assert (reply.reason, reply.escalated) == ("no_orders", True)
    assert reply.text == reply_text("no_orders", "en") + " " + reply_text("handoff", "en")
    assert reply.sources == []
    assert [a.action for a in reply.actions] == ["start_return", "escalate"]
    assert streamed == ""


async def test_about_an_order_the_account_does_not_show_the_help_centre_still_answers_or_suggests() -> None:
    answered, _ = await run(ScriptedModel("You have 30 days from delivery to return it."), flags=(NO_ORDERS,))
    assert (answered.reason, answered.escalated) == ("answered", False)
    assert answered.sources == ["https://x.example/returns"]
    # close: handed over with the closest sentences, as without the flag, saying first that there are no orders
    suggested, _ = await run(ScriptedModel("unused"), best=0.6, flags=(NO_ORDERS,))
    plain, _ = await run(ScriptedModel("unused"), best=0.6)
    assert (suggested.reason, suggested.escalated, suggested.sources) == ("suggested", True, plain.sources)
    assert suggested.text == reply_text("no_orders", "en") + " " + plain.text


@pytest.mark.parametrize(
    ("intent", "text", "escalated", "reason"),
    [
        ("talk_to_human", HANDOFF_TEXT, True, "human_request"),
        ("greeting", "Hello! How can I help?", False, "fixed_response"),
    ],
)
async def test_a_request_for_a_person_and_a_fixed_reply_never_reach_the_model(
    intent: str, text: str, escalated: bool, reason: str
) -> None:
    model = ScriptedModel("unused")
    reply, _ = await run(model, intent=intent)
    assert (reply.text, reply.escalated, reply.reason) == (text, escalated, reason)
    assert model.prompts == []
    assert reply.sources == []


async def test_where_no_agents_reply_can_come_back_no_hand_over_says_here() -> None:
    # the terminal chat, a REST back end without a callback: "they will reply in this conversation" was false
    handed, _ = await run(ScriptedModel("unused"), intent="talk_to_human", reachable=frozenset({"web"}))
    assert (handed.text, handed.escalated) == (reply_text("handoff_elsewhere"), True)
    assert "this conversation" not in handed.text
    suggested, _ = await run(ScriptedModel("unused"), best=0.6, reachable=frozenset({"web"}))
    assert suggested.text.startswith(reply_text("suggest_elsewhere", closest=""))
    assert "30 days from delivery" in suggested.text, "the closest sentences are still shown"
    kept, _ = await run(ScriptedModel("unused"), intent="talk_to_human", reachable=frozenset({"test"}))
    assert kept.text == HANDOFF_TEXT, "where an agent's reply reaches the customer, the promise stands"


async def test_invisible_characters_never_reach_the_model() -> None:
    model = ScriptedModel("You have 30 days from delivery to return an item.")
    generate = Generate(model, GenerationParams(), POLICY, INTENTS, Persona(), mode="compose")
    engine = Engine([SanitizeInput(), Given("return_item", EVIDENCE, 0.9), generate, Decide(POLICY, INTENTS)])
    smuggled = "how l\u200bong\u202e do i have\u00ad to return it\U000e0041\U000e0042"
    events = [e async for e in engine.handle(Message(ConversationRef("test", "c", "u"), smuggled, message_id="m2"))]
    assert events[-1].reply is not None
    assert model.prompts[0][-1].content == "how long do i have to return it"
