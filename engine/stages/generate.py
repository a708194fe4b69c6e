"""Generate: a grounded answer from the retrieved passages, streamed token by token."""

from __future__ import annotations

from dataclasses import dataclass

from engine.generation.prompts import NO_ANSWER, build_messages
from engine.policy import IntentSpec, PolicyConfig, evidence
from engine.protocols import EventSink, GenerationParams, Generator
from engine.types import Turn


@dataclass(frozen=True, slots=True)
class Persona:
    company: str = "our store"
    assistant_name: str = "Switchboard"


class Generate:
    def __init__(
        self,
        generator: Generator,
        params: GenerationParams,
        policy: PolicyConfig,
        intents: dict[str, IntentSpec],
        persona: Persona,
    ) -> None:
        self.generator = generator
        self.params = params
        self.policy = policy
        self.intents = intents
        self.persona = persona

    def should_answer(self, turn: Turn) -> bool:
        spec = self.intents.get(turn.intent)
        if spec is not None and (spec.escalate or spec.response):
            # a request for a person, or a fixed reply (greetings): nothing to generate
            return False
        return bool(evidence(turn.retrieved, self.policy))

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        if not self.should_answer(turn):
            return turn
        # A follow-up goes to the model joined to its earlier question, as it was searched: labelled
        # layouts ("Earlier question: …") were parroted back by the 0.5B model.
        question = f"{turn.follows_up} {turn.message.text}" if turn.follows_up else turn.message.text
        messages = build_messages(
            question,
            evidence(turn.retrieved, self.policy),
            company=self.persona.company,
            assistant_name=self.persona.assistant_name,
        )
        await events.status("Writing an answer")
        draft = ""
        held = ""
        async for delta in self.generator.stream(messages, self.params):
            draft += delta
            # Hold text back while it may still be the refusal: Decide replaces a refusal with a hand-over,
            # and the user should not see "I don't know." flash by first.
            if could_be_refusal(draft):
                held += delta
                continue
            await events.token(held + delta)
            held = ""
        return turn.evolve(draft=draft.strip())


def could_be_refusal(text: str) -> bool:
    return NO_ANSWER.lower().startswith(text.lstrip().lower())
