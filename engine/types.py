"""The values that flow through Switchboard: frozen, slotted dataclasses, never dicts."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any


@dataclass(frozen=True, slots=True)
class ConversationRef:
    """Where a reply goes: enough for any process to deliver it, independent of the inbound request."""

    channel: str
    conversation_id: str
    user_id: str

    @property
    def key(self) -> str:
        return f"{self.channel}\x1f{self.conversation_id}\x1f{self.user_id}"


@dataclass(frozen=True, slots=True)
class Message:
    """One inbound message, normalised by a channel."""

    conversation: ConversationRef
    text: str
    message_id: str
    user_role: str = "customer"
    # A button the user clicked (an Action's `action`), not words they typed; `text` is then its label.
    action: str = ""
    action_value: str = ""  # what the button carried (an order number, a signed approval token)
    sent_at: float = 0.0  # seconds since the epoch, as the channel received it; 0: when it is handled

    @property
    def user_id(self) -> str:
        return self.conversation.user_id


@dataclass(frozen=True, slots=True)
class Passage:
    """A retrievable piece of a knowledge document."""

    passage_id: str
    title: str
    url: str
    section: str
    text: str


@dataclass(frozen=True, slots=True)
class Citation:
    """A passage the reply relied on, with how strongly retrieval matched it (cosine, -1..1)."""

    title: str
    url: str
    section: str
    score: float


@dataclass(frozen=True, slots=True)
class Action:
    """An interactive button rendered by every channel."""

    label: str
    action: str
    type: str = "button"
    value: str = ""


ESCALATE_ACTION = Action(label="Talk to a human", action="escalate")
# Turn.flags: the customer asked about their own order and the account has none (Decide asks for the number)
NO_ORDERS = "no_orders"


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    role: str  # "user" or "assistant"
    text: str
    at: float = 0.0  # seconds since the epoch; 0 when unknown


@dataclass(frozen=True, slots=True)
class Retrieved:
    passage: Passage
    score: float


@dataclass(frozen=True, slots=True)
class Evidence:
    """One sentence of a retrieved passage that may answer the message, and how strongly.

    `similarity` is the embedding cosine of message and sentence; `support` is the evidence judge's
    probability that the sentence answers the message (what decides).
    """

    passage: Passage
    sentence: str
    similarity: float
    passage_score: float
    passage_rank: int
    support: float = 0.0


@dataclass(frozen=True, slots=True)
class Reply:
    text: str
    citations: tuple[Citation, ...]
    actions: tuple[Action, ...]
    confidence: float
    intent: str
    user_role: str
    escalated: bool
    reason: str = ""  # why the reply answered or handed over, for operators and evaluation; not shown to users
    segment: str = ""  # with segments configured: the user's segment and the adapter that answered
    adapter: str = ""
    token_stats: TokenStats | None = None  # how sure the model was of its words, when it wrote the answer
    # the language of the reply's wording when it is ours (hand-overs, refusals: engine/language.py) or an intent's
    # response written per language; "" for the help centre's or the operator's other text, whatever its language
    language: str = ""
    agent: str = ""  # the person of the support team who wrote it; "" for the assistant's replies

    @property
    def sources(self) -> list[str]:
        seen: dict[str, None] = {}
        for citation in self.citations:
            seen.setdefault(citation.url, None)
        return list(seen)

    def to_json(self) -> dict[str, Any]:
        """The reply shape every surface agrees on (ARCHITECTURE.md, 'Outputs')."""
        return {
            "response": self.text,
            "sources": self.sources,
            "actions": [
                {"type": a.type, "label": a.label, "action": a.action} | ({"value": a.value} if a.value else {})
                for a in self.actions
            ],
            "metadata": {
                "confidence": round(self.confidence, 3),
                "intent": self.intent,
                "user_role": self.user_role,
                "escalated": self.escalated,
                "language": self.language or None,
            }
            | ({"segment": self.segment, "adapter": self.adapter or None} if self.segment else {})
            | ({"generation": self.token_stats.to_json()} if self.token_stats else {})
            | ({"agent": self.agent} if self.agent else {}),
        }


class EventKind(StrEnum):
    STATUS = "status"
    TOKEN = "token"  # noqa: S105 - an event kind, not a secret
    FINAL = "final"


@dataclass(frozen=True, slots=True)
class ReplyEvent:
    """One step of a streamed reply, addressed by conversation so any process can deliver it."""

    conversation: ConversationRef
    message_id: str
    kind: EventKind
    text: str = ""
    reply: Reply | None = None

    @staticmethod
    def status(message: Message, text: str) -> ReplyEvent:
        return ReplyEvent(message.conversation, message.message_id, EventKind.STATUS, text=text)

    @staticmethod
    def token(message: Message, text: str) -> ReplyEvent:
        return ReplyEvent(message.conversation, message.message_id, EventKind.TOKEN, text=text)

    @staticmethod
    def final(message: Message, reply: Reply) -> ReplyEvent:
        return ReplyEvent(message.conversation, message.message_id, EventKind.FINAL, reply=reply)


@dataclass(frozen=True, slots=True)
class Redacted:
    """One personal value taken out of a message: the model, memory and logs see only `placeholder`;
    `value` stays with the turn (a per-turn vault) for tools and for showing back to its owner."""

    placeholder: str  # "<EMAIL_1>"
    entity: str  # "EMAIL_ADDRESS"
    value: str


@dataclass(frozen=True, slots=True)
class Entity:
    """Something a tool can act on, found in a message: `value` is normalised (an ISO date, "45.00 USD",
    a catalogue name, the user's own order number from the vault). Like the vault, never stored."""

    kind: str  # order_id, date, email, phone, money, product
    value: str
    text: str  # as it appears in the (redacted) message


@dataclass(frozen=True, slots=True)
class TokenStats:
    """How sure the model was of the tokens it wrote: log-probabilities (natural log) of the chosen tokens,
    for the escalation policy (a low minimum marks a guess somewhere in the answer)."""

    tokens: int
    mean_logprob: float
    min_logprob: float

    def to_json(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "mean_logprob": round(self.mean_logprob, 3),
            "min_logprob": round(self.min_logprob, 3),
        }

    @staticmethod
    def of(logprobs: list[float]) -> TokenStats | None:
        finite = [value for value in logprobs if math.isfinite(value)]
        if not finite:
            return None
        return TokenStats(len(finite), sum(finite) / len(finite), min(finite))


@dataclass(frozen=True, slots=True)
class Turn:
    """Everything the pipeline knows about one message so far; each stage returns an updated copy."""

    message: Message
    # the language fixed replies are written in (engine/language.py): set, or told from this message or the
    # customer's earlier ones; "" while it cannot be told (then `speaks` is English)
    language: str = ""
    history: tuple[HistoryEntry, ...] = ()
    intent: str = "general_question"
    intent_confidence: float = 0.0  # calibrated probability that `intent` is right
    query_vector: tuple[float, ...] = ()
    # a stage before Understand that embedded the message (the guards): the text it embedded, and the vector
    embedded: tuple[str, tuple[float, ...]] | None = None
    # ... and each of that text's sentences with its vector (the person-request detector reads them too)
    embedded_sentences: tuple[tuple[str, tuple[float, ...]], ...] = ()
    retrieved: tuple[Retrieved, ...] = ()
    follows_up: str = ""  # the earlier question this message was read with, when Retrieve needed it
    # when it did: the message's own search and vector, for Weigh to keep whichever has the better evidence
    alone: tuple[tuple[Retrieved, ...], tuple[float, ...]] | None = None
    # the message as searched and judged when not in its own words: its English translation (TranslateQuery)
    query: str = ""
    evidence: tuple[Evidence, ...] = ()  # judged sentences, best first
    answerability: float = 0.0  # the judge's probability that the knowledge base answers the message
    chosen: tuple[Evidence, ...] = ()  # the sentences the answer is built from, in reading order
    draft: str = ""
    token_stats: TokenStats | None = None  # the model's, when it wrote the draft (compose mode)
    segment: str = ""  # the segment the user is in (segments: in the YAML), "" when none are configured
    adapter: str = ""  # the adapter that wrote the draft, "" for the base model or verbatim sentences
    reply: Reply | None = None
    vault: tuple[Redacted, ...] = ()  # this turn's redacted values, never stored
    entities: tuple[Entity, ...] = ()  # typed, for tools (values from the vault where redacted)
    # what earlier stages noticed for later ones: the guards ("abuse", "quarantined"…), Act (NO_ORDERS)
    flags: tuple[str, ...] = ()
    settled: bool = False  # a guard decided the reply: only stages that run after the reply run
    # an agent's reply can reach this conversation (its channel has a notifier): only then may a hand-over
    # promise that a person replies *here* (the terminal chat, a REST back end without a callback: it may not)
    way_back: bool = True

    def evolve(self, **changes: Any) -> Turn:
        return replace(self, **changes)

    @property
    def question(self) -> str:
        """What is searched and judged: the message (its English translation when translated), read with the
        earlier question it follows up when Retrieve needed that."""
        text = self.query or self.message.text
        return f"{self.follows_up} {text}" if self.follows_up else text

    @property
    def speaks(self) -> str:
        """The language of this turn's fixed replies."""
        return self.language or "en"
