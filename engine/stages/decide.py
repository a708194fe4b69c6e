"""Decide: the Reply — the answer with its sources and buttons, a fixed reply, or a hand-over to a person."""

from __future__ import annotations

from engine.policy import IntentSpec, PolicyConfig
from engine.protocols import EventSink
from engine.types import ESCALATE_ACTION, Action, Citation, Reply, Turn

HANDOFF_TEXT = "I'll connect you with a member of our support team; they will reply in this conversation."
SUGGEST_TEXT = (
    "I'm not sure our help centre answers this, so I've asked a member of our support team to follow up here. "
    "The closest I found:\n\n{closest}"
)
NOT_FOUND_TEXT = (
    "I couldn't find an answer to that in our help centre, so I've passed your question to a member of "
    "our support team."
)


class Decide:
    def __init__(self, policy: PolicyConfig, intents: dict[str, IntentSpec]) -> None:
        self.policy = policy
        self.intents = intents

    def _actions(self, intent: str, escalated: bool) -> tuple[Action, ...]:
        spec = self.intents.get(intent)
        actions = list(spec.actions) if spec else []
        if escalated and all(a.action != ESCALATE_ACTION.action for a in actions):
            actions.append(ESCALATE_ACTION)
        return tuple(actions)

    def _citations(self, turn: Turn) -> tuple[Citation, ...]:
        """The pages the answer's sentences come from, best-supported first, one citation per page."""
        pages: dict[str, Citation] = {}
        for e in sorted(turn.chosen, key=lambda e: e.support, reverse=True):
            if e.passage.url not in pages and len(pages) < self.policy.max_sources:
                pages[e.passage.url] = Citation(e.passage.title, e.passage.url, e.passage.section, e.passage_score)
        return tuple(pages.values())

    def _reply(self, turn: Turn, text: str, confidence: float, escalated: bool, reason: str) -> Reply:
        return Reply(
            text=text,
            citations=self._citations(turn) if turn.draft else (),
            actions=self._actions(turn.intent, escalated),
            confidence=confidence,
            intent=turn.intent,
            user_role=turn.message.user_role,
            escalated=escalated,
            reason=reason,
            segment=turn.segment,
            adapter=turn.adapter,
            token_stats=turn.token_stats,
        )

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        spec = self.intents.get(turn.intent)
        if spec is not None and spec.escalate:
            return turn.evolve(reply=self._reply(turn, HANDOFF_TEXT, 1.0, True, "human_request"))
        if spec is not None and spec.response:
            return turn.evolve(reply=self._reply(turn, spec.response, 1.0, False, "fixed_response"))
        if not turn.draft:
            reason = "no_evidence" if not turn.evidence else "not_answerable"
            return turn.evolve(reply=self._reply(turn, NOT_FOUND_TEXT, turn.answerability, True, reason))
        if not self.policy.answers(turn.answerability):
            text = SUGGEST_TEXT.format(closest=turn.draft)
            return turn.evolve(reply=self._reply(turn, text, turn.answerability, True, "suggested"))
        return turn.evolve(reply=self._reply(turn, turn.draft, turn.answerability, False, "answered"))
