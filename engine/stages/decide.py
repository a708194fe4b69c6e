"""Decide: turn the draft into a Reply with citations, confidence, buttons and the escalation call."""

from __future__ import annotations

from engine.generation.prompts import NO_ANSWER
from engine.policy import IntentSpec, PolicyConfig, attributed, cited, confidence, evidence, grounding
from engine.protocols import EventSink
from engine.types import Action, Citation, Reply, Turn

ESCALATE = Action(label="Talk to a human", action="escalate")

HANDOFF_TEXT = "I'll connect you with a member of our support team; they will reply in this conversation."
NOT_FOUND_TEXT = (
    "I couldn't find an answer to that in our help centre, so I've passed your question to a member of "
    "our support team."
)
UNSURE_SUFFIX = "I'm not fully certain about this, so I've also asked a member of our support team to check."


class Decide:
    def __init__(self, policy: PolicyConfig, intents: dict[str, IntentSpec]) -> None:
        self.policy = policy
        self.intents = intents

    def _actions(self, intent: str, escalated: bool) -> tuple[Action, ...]:
        spec = self.intents.get(intent)
        actions = list(spec.actions) if spec else []
        if escalated and all(a.action != ESCALATE.action for a in actions):
            actions.append(ESCALATE)
        return tuple(actions)

    def _sources(self, turn: Turn) -> tuple[Citation, ...]:
        hits = attributed(turn.draft, evidence(turn.retrieved, self.policy), self.policy) or cited(
            turn.retrieved, self.policy
        )
        return tuple(
            Citation(title=h.passage.title, url=h.passage.url, section=h.passage.section, score=h.score) for h in hits
        )

    def _reply(self, turn: Turn, text: str, conf: float, escalated: bool, with_sources: bool) -> Reply:
        citations = self._sources(turn) if with_sources else ()
        return Reply(
            text=text,
            citations=citations,
            actions=self._actions(turn.intent, escalated),
            confidence=conf,
            intent=turn.intent,
            user_role=turn.message.user_role,
            escalated=escalated,
        )

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        spec = self.intents.get(turn.intent)
        if spec is not None and spec.escalate:
            return turn.evolve(reply=self._reply(turn, HANDOFF_TEXT, 1.0, True, False))
        if spec is not None and spec.response:
            return turn.evolve(reply=self._reply(turn, spec.response, 1.0, False, False))
        support = evidence(turn.retrieved, self.policy)
        draft = turn.draft
        if not support or not draft or draft.lower().startswith(NO_ANSWER.rstrip(".").lower()):
            return turn.evolve(reply=self._reply(turn, NOT_FOUND_TEXT, 0.0, True, False))
        top = max(hit.score for hit in support)
        conf = confidence(
            top,
            grounding(draft, (f"{h.passage.title} {h.passage.section} {h.passage.text}" for h in support)),
            self.policy,
        )
        if conf < self.policy.escalate_below:
            return turn.evolve(reply=self._reply(turn, f"{draft}\n\n{UNSURE_SUFFIX}", conf, True, True))
        return turn.evolve(reply=self._reply(turn, draft, conf, False, True))
