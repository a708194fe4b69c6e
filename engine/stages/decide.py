"""Decide: the Reply — the answer with its sources and buttons, a fixed reply, or a hand-over to a person."""

from __future__ import annotations

from engine.policy import IntentSpec, PolicyConfig
from engine.protocols import EventSink
from engine.replies import escalate_action, handover_text, reply_text
from engine.types import ESCALATE_ACTION, NO_ORDERS, Action, Citation, Reply, Turn

# in English; each is also written in the other languages of engine/data/replies.json
HANDOFF_TEXT = reply_text("handoff")
NOT_FOUND_TEXT = reply_text("not_found")


class Decide:
    def __init__(self, policy: PolicyConfig, intents: dict[str, IntentSpec]) -> None:
        self.policy = policy
        self.intents = intents

    def _actions(self, intent: str, escalated: bool, language: str) -> tuple[Action, ...]:
        spec = self.intents.get(intent)
        actions = list(spec.actions) if spec else []
        if escalated and all(a.action != ESCALATE_ACTION.action for a in actions):
            actions.append(escalate_action(language))
        return tuple(actions)

    def _citations(self, turn: Turn) -> tuple[Citation, ...]:
        """The pages the answer's sentences come from, best-supported first, one citation per page."""
        pages: dict[str, Citation] = {}
        for e in sorted(turn.chosen, key=lambda e: e.support, reverse=True):
            if e.passage.url not in pages and len(pages) < self.policy.max_sources:
                pages[e.passage.url] = Citation(e.passage.title, e.passage.url, e.passage.section, e.passage_score)
        return tuple(pages.values())

    def _reply(
        self, turn: Turn, text: str, confidence: float, escalated: bool, reason: str, language: str | None = None
    ) -> Reply:
        """`language`: what the text is written in; None for our own wording (the turn's language), "" for the
        help centre's or the operator's text."""
        return Reply(
            text=text,
            citations=self._citations(turn) if turn.draft else (),
            actions=self._actions(turn.intent, escalated, turn.speaks),
            confidence=confidence,
            intent=turn.intent,
            user_role=turn.message.user_role,
            escalated=escalated,
            reason=reason,
            segment=turn.segment,
            adapter=turn.adapter,
            token_stats=turn.token_stats,
            language=turn.speaks if language is None else language,
        )

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        spec = self.intents.get(turn.intent)
        if spec is not None and spec.escalate:
            text = handover_text("handoff", turn.way_back, turn.speaks)
            return turn.evolve(reply=self._reply(turn, text, 1.0, True, "human_request"))
        if spec is not None and spec.response:
            text, language = spec.response_in(turn.speaks)
            return turn.evolve(reply=self._reply(turn, text, 1.0, False, "fixed_response", language))
        # about their own order, which the account does not show (a guest checkout, another address): a
        # hand-over says so, rather than "our help centre has no answer", and a person looks it up
        no_orders = reply_text("no_orders", turn.speaks) + " " if NO_ORDERS in turn.flags else ""
        if no_orders and not turn.draft:
            text = no_orders + handover_text("handoff", turn.way_back, turn.speaks)
            return turn.evolve(reply=self._reply(turn, text, turn.answerability, True, "no_orders"))
        if not turn.draft:
            reason = "no_evidence" if not turn.evidence else "not_answerable"
            text = reply_text("not_found", turn.speaks)
            return turn.evolve(reply=self._reply(turn, text, turn.answerability, True, reason))
        if not self.policy.answers(turn.answerability, turn.segment):
            text = no_orders + handover_text("suggest", turn.way_back, turn.speaks, closest=turn.draft)
            return turn.evolve(reply=self._reply(turn, text, turn.answerability, True, "suggested"))
        answer = self._reply(turn, turn.draft, turn.answerability, False, "answered", language="")
        return turn.evolve(reply=answer)
