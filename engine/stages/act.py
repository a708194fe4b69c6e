"""Act: look things up or change them in a business system, chosen in code from the intent and entities.

A message about the user's own order goes to the tool its intent names; a missing order number gets one
"which order?" question listing the user's orders; an action that changes something (`confirm`) is only
proposed, with Approve / Cancel buttons, and runs when its own user approves it, once. The reply says
only what the tool returned (its template filled with the result's facts) and cites the system's page;
when the tool fails the reply says so and offers a person, never a guessed status.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from engine.consent import (
    APPROVE,
    ATTEMPTED,
    CANCEL,
    AuditEntry,
    AuditLog,
    ConsentError,
    ConsentSigner,
    PendingChoices,
    Proposal,
    ProposalStore,
    conversation_digest,
    idempotency_key,
)
from engine.cues import language_of, ordinal, says
from engine.dates import spoken_date
from engine.protocols import EventSink, StoreUnavailable
from engine.replies import escalate_action, reply_text
from engine.tool_calls import CallProposer, request_messages, schema, validate_call
from engine.tools import (
    ORDER_NUMBER,
    Failure,
    OrderSummary,
    Tool,
    ToolCall,
    ToolError,
    ToolResult,
    Tools,
    Wording,
    fact_text,
    render,
)
from engine.types import NO_ORDERS, Action, Citation, Redacted, Reply, Turn

log = logging.getLogger(__name__)


def _own(text: str) -> bool:
    """About something of the user's own ("my order", "mi pedido", "我的订单"), not a how-to."""
    return says("own", text)


def _request(text: str) -> bool:
    """Asking for a change, not about one ("I want a refund", "quiero un reembolso", not "where is my refund?");
    or, in English, to start one ("start a return")."""
    return says("ask", text) or _START.search(text) is not None


_START = re.compile(r"\bstart\b", re.IGNORECASE)


_ORDINALS = {"first": 0, "1st": 0, "second": 1, "2nd": 1, "third": 2, "3rd": 2, "last": -1, "latest": 0}
_SHORT_ANSWER_WORDS, _SHORT_ANSWER_CHARS = 4, 30  # an answer to "which order?" ("die erste bitte")
MAX_CHOICES = 5

# a refused approval's reason → its reply (engine/data/replies.json); a forged or broken button says "not valid"
_CONSENT_REPLY = {
    "another_user": "consent_another_user",
    "another_conversation": "consent_another_conversation",
    "expired": "consent_expired",
    "replayed": "consent_replayed",
    "unknown_tool": "consent_unknown_tool",
}


@dataclass(frozen=True, slots=True)
class Consent:
    signer: ConsentSigner
    proposals: ProposalStore
    ttl_s: float = 900.0


class Act:
    def __init__(
        self,
        tools: Tools,
        consent: Consent,
        audit: AuditLog,
        pending: PendingChoices,
        screen: Callable[[str], bool] | None = None,
        vaulted: bool = False,
        keep_intents: frozenset[str] = frozenset(),
        proposer: CallProposer | None = None,
        company: str = "",
    ) -> None:
        self.tools = tools
        # a tool without a title is named by the company in replies: a proper name fits every language's
        # sentence ("System Brightcart", "von Brightcart"), where "our systems" would stay English
        self.company = company
        self.consent = consent
        self.audit = audit
        self.pending = pending
        # a tool's result is checked like a retrieved page: text that tries to instruct us is not repeated
        self.screen = screen
        # personal values (order numbers) in the reply as placeholders, restored for the user by RestorePII
        self.vaulted = vaulted
        # intents that are never taken over by a tool's cue words (a request for a person, a greeting)
        self.keep_intents = keep_intents
        # a model asked for a call when code chose no tool (large models only), its proposal validated
        self.proposer = proposer

    async def __call__(self, turn: Turn, events: EventSink) -> Turn:
        message = turn.message
        if message.action in (APPROVE, CANCEL):
            return await self._consent_click(turn)
        tool, order = await self._answered_choice(turn)
        chosen = tool is not None  # the answer to our own "which order?" question: asked already
        if tool is None:
            order = self._order_number(turn)
            tool = self.tools.for_intent(turn.intent)
            if tool is None and not message.action and turn.intent not in self.keep_intents:
                # "where is BC-12345?" read as another intent: only a number that is surely an order's
                # ("order 12345", "#12345", "BC-12345"), never any number ("a charge of 50000 was delayed")
                order = self._order_number(turn, surely=True)
                tool = self.tools.for_cues(message.text) if order else None
        proposed: dict[str, str] = {}
        if tool is None and self.proposer is not None and not message.action and turn.intent not in self.keep_intents:
            call = await self._proposed(turn, self.proposer)
            if call is not None:
                tool, proposed = self.tools.by_name[call.tool], dict(call.arguments)
                order = self._normalised(proposed.get("order_id", ""))
        if tool is None:
            return turn
        if turn.intent not in tool.spec.intents and tool.spec.intents:
            turn = turn.evolve(intent=tool.spec.intents[0])
        arguments: dict[str, str] = {}
        if tool.spec.confirm and not chosen and not self._asks(turn, tool):
            return turn  # about a change, not asking for one ("where is my refund for 12377?")
        if "order_id" in tool.spec.parameters:
            if not order:
                if not self._wants(turn):
                    return turn  # a general question ("how long does shipping take?"): the help centre answers
                await events.status(reply_text("checking_orders", turn.speaks))
                picked = await self._pick_order(turn, tool)
                if isinstance(picked, Turn) or picked is None:
                    return picked or turn
                order = picked
            arguments["order_id"] = order
        for name in tool.spec.parameters:
            if name not in arguments:
                value = proposed.get(name) or next((e.value for e in turn.entities if e.kind == name), "")
                if not value:
                    return turn  # the tool cannot run without it; the help centre may still answer
                arguments[name] = value
        call = ToolCall.of(tool.spec.name, arguments, message.user_id)
        if tool.spec.title:
            await events.status(reply_text("checking_with", turn.speaks, system=tool.spec.title))
        else:
            await events.status(reply_text("checking", turn.speaks))
        if tool.spec.confirm:
            return await self._propose(turn, tool, call)
        return await self._run(turn, tool, call, message.message_id)

    # --- choosing the tool and the order -------------------------------------------------------------------

    async def _proposed(self, turn: Turn, proposer: CallProposer) -> ToolCall | None:
        """The model's proposed call, when valid; a refused proposal runs nothing and is logged."""
        offered = [schema(tool.spec) for tool in self.tools.tools]
        try:
            raw = await proposer.propose(request_messages(turn), offered)
        except Exception:  # the model failing must not cost the customer their answer
            log.exception("tool-call proposal failed for message %s", turn.message.message_id)
            return None
        if raw.strip().lower().strip(".") in ("", "none"):
            return None
        try:
            return validate_call(raw, self.tools, turn)
        except ValueError as refused:
            log.warning("a proposed tool call was refused for message %s: %s", turn.message.message_id, refused)
            return None

    def _normalised(self, number: str) -> str:
        directory = self.tools.directory
        return directory.normalise(number) if directory and number else number

    def _order_number(self, turn: Turn, surely: bool = False) -> str:
        """The order number the message (or its button) names; `surely`: only one the PII stage recognised
        as an order number, or one written with a prefix or "#"."""
        candidates = [turn.message.action_value] if turn.message.action_value else []
        candidates += [e.value for e in turn.entities if e.kind == "order_id"]
        written = ORDER_NUMBER.finditer(turn.message.text)
        candidates += [m.group(0) for m in written if not surely or m.group(0) != m.group(1)]
        for candidate in candidates:
            if ORDER_NUMBER.fullmatch(candidate.strip()):
                return self._normalised(candidate.strip())
        return ""

    def _wants(self, turn: Turn) -> bool:
        """A click, or a message about something of the user's own ("where is my order", not a how-to)."""
        return bool(turn.message.action) or _own(turn.message.text)

    def _asks(self, turn: Turn, tool: Tool) -> bool:
        """A click, or a message that asks for the change (a confirm tool is never proposed unasked)."""
        return bool(turn.message.action) or (tool.spec.asks or _request)(turn.message.text)

    async def _pick_order(self, turn: Turn, tool: Tool) -> str | Turn | None:
        """The user's one eligible order, a "which order?" reply, the turn flagged NO_ORDERS when the account
        has none, or None when it has orders and none this tool takes (the help centre may answer). A number
        is not asked for: the order system answers only for the user's own orders, and there are none."""
        directory = self.tools.directory
        if directory is None:
            return None
        try:
            orders = await directory.orders(turn.message.user_id)
        except ToolError as error:
            if error.failure is Failure.NOT_FOUND:
                return turn.evolve(flags=(*turn.flags, NO_ORDERS))  # a customer the order system does not know
            log.warning("order list failed for message %s: %s", turn.message.message_id, error.detail)
            return self._failed(turn, tool, error.failure, "", error)
        if not orders:  # ordered as a guest, or under another address: the help centre may still answer;
            return turn.evolve(flags=(*turn.flags, NO_ORDERS))  # a hand-over says why (Decide)
        eligible = [o for o in orders if not tool.spec.choose_from or o.status in tool.spec.choose_from]
        if not eligible:
            return None
        if len(eligible) == 1:
            return eligible[0].order_id
        shown = eligible[:MAX_CHOICES]
        try:
            await self.pending.ask(turn.message.conversation, tool.spec.name, [o.order_id for o in shown])
        except StoreUnavailable:
            log.warning("could not keep the order choice for message %s", turn.message.message_id)
        lines = []
        for summary in shown:
            turn, said = self._say(turn, summary.order_id)
            lines.append(f"• {said}: {self._describe(summary, turn.speaks)}")
        text = reply_text("which_order", turn.speaks, choices="\n".join(lines))
        return self._settle(turn, text, reason="tool_which_order", confidence=1.0)

    async def _answered_choice(self, turn: Turn) -> tuple[Tool | None, str]:
        """The tool and order when this message answers a "which order?" question ("12377", "the second")."""
        if turn.message.action:
            return None, ""
        try:
            asked = await self.pending.take(turn.message.conversation)
        except StoreUnavailable:
            return None, ""
        if asked is None:
            return None, ""
        name, candidates = asked
        tool = self.tools.by_name.get(name)
        words = re.findall(r"[a-z0-9]+", turn.message.text.lower())
        own = self.tools.for_intent(turn.intent)
        if tool is None or (own is not None and own is not tool and len(words) > 4):
            return None, ""  # a new request of its own ("actually I want a refund for 10009"), not an answer
        directory = self.tools.directory
        said = self._order_number(turn)
        digits = re.sub(r"\D", "", said)
        for candidate in candidates:
            if said and (candidate == said or re.sub(r"\D", "", candidate) == digits):
                return tool, candidate if directory is None else directory.normalise(candidate)
        for word in words:
            if word in _ORDINALS and len(words) <= 6:
                index = _ORDINALS[word]
                if -len(candidates) <= index < len(candidates):
                    return tool, candidates[index]
        told = language_of(turn.message.text) or turn.language  # "el segundo": the conversation's language
        text = turn.message.text.strip()
        short = len(text.split()) <= _SHORT_ANSWER_WORDS and len(text) <= _SHORT_ANSWER_CHARS
        place = ordinal(text, told) if told not in (None, "", "en") and short else None  # "el segundo", "第二个"
        if place is not None and -len(candidates) <= place < len(candidates):
            return tool, candidates[place]
        return None, ""

    # --- running and proposing ----------------------------------------------------------------------------

    async def _run(self, turn: Turn, tool: Tool, call: ToolCall, key: str) -> Turn:
        try:
            result = self._checked(await tool.run(call, key))
        except ToolError as error:
            _log_failure(error, "tool %s failed for message %s: %s", tool.spec.name, turn.message.message_id)
            return self._failed(turn, tool, error.failure, call.arg("order_id"), error)
        return self._answer(turn, tool, call, result, _reply, "tool_answered")

    async def _propose(self, turn: Turn, tool: Tool, call: ToolCall) -> Turn:
        message = turn.message
        try:
            preview = self._checked(await tool.preview(call))
        except ToolError as error:
            _log_failure(error, "tool %s preview failed for message %s: %s", tool.spec.name, message.message_id)
            return self._failed(turn, tool, error.failure, call.arg("order_id"), error)
        proposal = Proposal(
            nonce=secrets.token_urlsafe(12),
            call=call,
            conversation=conversation_digest(message.conversation),
            expires_at=time.time() + self.consent.ttl_s,
            key=idempotency_key(call, time.strftime("%Y-%m-%d", time.gmtime())),
        )
        try:
            await self.consent.proposals.put(proposal)
        except StoreUnavailable:
            return self._failed(turn, tool, Failure.UNAVAILABLE, call.arg("order_id"))
        token = self.consent.signer.sign(proposal)
        await self._audit(turn, call, "proposed")
        language = turn.speaks
        buttons = (
            Action(reply_text("approve", language), APPROVE, value=token),
            Action(reply_text("cancel", language), CANCEL, value=token),
        )
        return self._answer(turn, tool, call, preview, _proposal, "consent_requested", buttons)

    async def _consent_click(self, turn: Turn) -> Turn:
        message = turn.message
        try:
            proposal = self.consent.signer.verify(message.action_value, message.user_id, message.conversation)
        except ConsentError as refused:
            return await self._refuse(turn, None, refused.reason)
        tool = self.tools.by_name.get(proposal.call.tool)
        if tool is None:
            return await self._refuse(turn, proposal.call, "unknown_tool")
        try:
            state = await self.consent.proposals.take(proposal)
        except StoreUnavailable:
            return self._failed(turn, tool, Failure.UNAVAILABLE, proposal.call.arg("order_id"))
        if state is None:
            return await self._refuse(turn, proposal.call, "replayed")
        turn = turn.evolve(intent=tool.spec.intents[0] if tool.spec.intents else turn.intent)
        language = turn.speaks
        approve_again = (
            Action(reply_text("approve", language), APPROVE, value=message.action_value),
            escalate_action(language),
        )
        if message.action == CANCEL and state == ATTEMPTED:
            await self._put_back(proposal, ATTEMPTED)  # it may be done: it can be finished, not undone
            await self._audit(turn, proposal.call, "refused", "cancel_after_attempt")
            return self._settle(turn, reply_text("consent_no_cancel", language), "consent_refused", 0.0, approve_again)
        if message.action == CANCEL:
            await self._audit(turn, proposal.call, "cancelled")
            return self._settle(turn, reply_text("consent_cancelled", language), "consent_cancelled", 1.0)
        try:
            result = self._checked(await tool.run(proposal.call, proposal.key or proposal.nonce))
        except ToolError as error:
            await self._audit(turn, proposal.call, "failed", f"{error.failure.value}: {error.detail}")
            if error.failure is Failure.UNAVAILABLE:
                # the answer was lost, so it may have been done: Approve again (the same idempotency key)
                # finishes it once; Cancel can no longer promise that nothing changed
                await self._put_back(proposal, ATTEMPTED)
                text = reply_text("consent_retry", language, system=self._system(tool))
                return self._settle(turn, text, "tool_unavailable", 0.0, approve_again)
            return self._failed(turn, tool, error.failure, proposal.call.arg("order_id"), error)
        await self._audit(turn, proposal.call, "executed", result.fact("reference"))
        return self._answer(turn, tool, proposal.call, result, _reply, "consent_executed")

    async def _put_back(self, proposal: Proposal, state: str) -> None:
        try:
            await self.consent.proposals.put(proposal, state)
        except StoreUnavailable:
            log.warning("could not restore a proposal after a failed run")

    async def _refuse(self, turn: Turn, call: ToolCall | None, reason: str) -> Turn:
        refused = call or ToolCall("", (), turn.message.user_id)
        await self._audit(turn, refused, "refused", reason)
        text = reply_text(_CONSENT_REPLY.get(reason, "consent_invalid"), turn.speaks)
        return self._settle(turn, text, "consent_refused", 1.0)

    async def _audit(self, turn: Turn, call: ToolCall, outcome: str, detail: str = "") -> None:
        conversation = turn.message.conversation
        entry = AuditEntry(
            at=time.time(),
            user_id=turn.message.user_id,
            conversation=f"{conversation.channel}:{conversation.conversation_id}",
            tool=call.tool,
            arguments=call.arguments,
            outcome=outcome,
            detail=detail,
        )
        try:
            await self.audit.record(entry)
        except StoreUnavailable:
            log.error("audit entry %s/%s for message %s not written", call.tool, outcome, turn.message.message_id)

    # --- replies ------------------------------------------------------------------------------------------

    def _checked(self, result: ToolResult) -> ToolResult:
        if self.screen is not None:
            for name, value in result.facts:
                if not self.screen(value):
                    raise ToolError(Failure.INVALID, f"the field {name!r} reads as an instruction to the assistant")
        return result

    def _answer(
        self,
        turn: Turn,
        tool: Tool,
        call: ToolCall,
        result: ToolResult,
        template_in: Callable[[Wording], Sequence[str]],
        reason: str,
        buttons: tuple[Action, ...] = (),
    ) -> Turn:
        facts = dict(result.facts)
        order = call.arg("order_id")
        if order:
            turn, facts["order_id"] = self._say(turn, order)
        wording, written = tool.spec.wording(turn.speaks)
        template = template_in(wording)
        language = written or "en"  # dates in the operator's template: as English writes them
        text = render(template, facts, language, wording)
        if not text:  # no line of the template could be filled: the facts as they came, in no language
            text, written = "\n".join(f"{k.replace('_', ' ')}: {v}" for k, v in result.facts), ""
        offers = tuple(
            Action(other.spec.wording(turn.speaks)[0].offer, other.spec.offer_action, value=order)
            for other in self.tools.tools
            if other is not tool and other.spec.offer and facts.get("status_code", "") in other.spec.choose_from
        )
        link = result.link
        if link is not None and wording.link_title:
            link = replace(link, title=wording.link_title)
        citations = (link,) if link is not None else ()
        return self._settle(turn, text, reason, 1.0, (*buttons, *offers), citations, written=written)

    def _failed(self, turn: Turn, tool: Tool, failure: Failure, order: str, error: ToolError | None = None) -> Turn:
        said = ""
        if order:
            turn, said = self._say(turn, order)
        language = turn.speaks
        system = self._system(tool)
        key = f"{'order' if said else 'tool'}_{failure.value}"
        text = reply_text(key, language, system=system, order=said)
        known = ""
        if error is not None and error.reply:  # the tool said why: in its wording's words when it has them
            wording, written = tool.spec.wording(language)
            known = render(
                wording.refused if written and wording.refused else error.reply,
                {**dict(error.facts), "order_id": said},
                written or "en",
                wording if written else None,
            )
        if known:  # the tool said why, in its own checked words; a person is still offered
            text = f"{known} {reply_text('team_can_look', language)}"
        return self._settle(
            turn, text[0].upper() + text[1:], f"tool_{failure.value}", 0.0, (escalate_action(language),)
        )

    def _describe(self, summary: OrderSummary, language: str) -> str:
        """One line of "which order?": its status in the tools' words for it, when placed, its total."""
        status = summary.status.replace("_", " ")
        for tool in self.tools.tools:
            wording, written = tool.spec.wording(language)
            if written and summary.status in dict(wording.codes):
                status = dict(wording.codes)[summary.status]
                break
        parts = [status]
        if summary.placed:
            parts.append(reply_text("ordered_on", language, date=spoken_date(fact_text(summary.placed), language)))
        if summary.total:
            parts.append(summary.total)
        return ", ".join(parts)

    def _system(self, tool: Tool) -> str:
        return tool.spec.title or self.company or "our systems"

    def _settle(
        self,
        turn: Turn,
        text: str,
        reason: str,
        confidence: float,
        actions: tuple[Action, ...] = (),
        citations: tuple[Citation, ...] = (),
        written: str | None = None,
    ) -> Turn:
        """Settle the turn with this reply; `written`: the language of a tool's template ("" when it is the
        operator's, which claims none); None: the wording is Switchboard's own, in the turn's language."""
        reply = Reply(
            text=text,
            citations=citations,
            actions=actions,
            confidence=confidence,
            intent=turn.intent,
            user_role=turn.message.user_role,
            escalated=False,
            reason=reason,
            language=turn.speaks if written is None else written,
        )
        return turn.evolve(reply=reply, settled=True)

    def _say(self, turn: Turn, value: str) -> tuple[Turn, str]:
        """How the reply names one of the user's values: as a placeholder that history keeps and
        RestorePII turns back into the value for the user, when personal data is redacted."""
        if not self.vaulted:
            return turn, value
        for item in turn.vault:
            if item.entity == "ORDER_ID" and item.value == value:
                return turn, item.placeholder
        used = [int(m) for item in turn.vault for m in re.findall(r"^<ORDER_ID_(\d+)>$", item.placeholder)]
        placeholder = f"<ORDER_ID_{max(used, default=0) + 1}>"
        return turn.evolve(vault=(*turn.vault, Redacted(placeholder, "ORDER_ID", value))), placeholder


def _log_failure(error: ToolError, template: str, *args: object) -> None:
    """An order that does not exist or a refund the system declines is an everyday answer, not a fault:
    only an unreachable or unreadable system is worth an operator's attention."""
    expected = error.failure in (Failure.NOT_FOUND, Failure.REFUSED)
    log.log(logging.INFO if expected else logging.WARNING, template, *args, error.detail)


# which of a tool's templates a reply is rendered from
def _reply(wording: Wording) -> Sequence[str]:
    return wording.reply


def _proposal(wording: Wording) -> Sequence[str]:
    return wording.proposal
