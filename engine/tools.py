"""Tools: what Switchboard can look up or change in a business system (orders, refunds, any declared API).

The small default model is not a reliable function caller, so the act stage chooses a tool in code, from
the intent and the message's entities, and the reply states only what the tool returned: it is rendered
from the tool's template, filled with the named facts of its result, never written by the model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Protocol

from engine.dates import ISO_DATE, spoken_date
from engine.types import Citation

# Which order? "12345", "BC-12345", "#12345", "No12345" ("№12345" once normalised); also right after or
# before a word of a script that does not separate words ("订单12345", "12345番", "12377번"), but never inside
# another word or a longer number ("SKU12345", "2200μF")
_BESIDE = r"[^\W\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]|-"  # a word character, but those scripts'
ORDER_NUMBER = re.compile(rf"(?<!{_BESIDE})(?:[A-Za-z]{{1,4}}-|#|[Nn][OoRr]\.?)?(\d{{4,12}})(?!{_BESIDE})")
TextTest = Callable[[str], bool]  # whether a text says something (engine/cues.py)


class Failure(StrEnum):
    NOT_FOUND = "not_found"  # also someone else's order: the two are never told apart
    UNAVAILABLE = "unavailable"  # timeout, refused connection, 5xx: worth another try later
    INVALID = "invalid"  # a malformed, oversized or unsafe response, or a host that is not allowed
    REFUSED = "refused"  # the system declined (already refunded, not eligible)


class ToolError(Exception):
    """A tool could not give a usable result; `detail` is for operators (never shown, never holds secrets).

    A tool that knows why (a refund refused because the order is still on its way) gives `reply`, a
    template filled with `facts` like a result's, which the customer is shown instead of the generic text.
    """

    def __init__(
        self, failure: Failure, detail: str, reply: tuple[str, ...] = (), facts: tuple[tuple[str, str], ...] = ()
    ) -> None:
        super().__init__(f"{failure.value}: {detail}")
        self.failure = failure
        self.detail = detail
        self.reply = reply
        self.facts = facts


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One call: the tool, its arguments (by parameter name) and the user it is made for."""

    tool: str
    arguments: tuple[tuple[str, str], ...]
    user_id: str

    @staticmethod
    def of(tool: str, arguments: Mapping[str, str], user_id: str) -> ToolCall:
        return ToolCall(tool, tuple(sorted(arguments.items())), user_id)

    def arg(self, name: str) -> str:
        return dict(self.arguments).get(name, "")


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What the answer may say: named facts (strings) and, when the system has one, a page to cite."""

    facts: tuple[tuple[str, str], ...]
    link: Citation | None = None

    @staticmethod
    def of(facts: Mapping[str, object], link: Citation | None = None) -> ToolResult:
        kept = {k: fact_text(v) for k, v in facts.items() if v is not None and fact_text(v) != ""}
        return ToolResult(tuple(kept.items()), link)

    def fact(self, name: str) -> str:
        return dict(self.facts).get(name, "")


@dataclass(frozen=True, slots=True)
class Wording:
    """A tool's texts in one language: its templates, its button, its result's page title, and its words for
    coded facts ("in_transit" → "en camino")."""

    reply: tuple[str, ...] = ()
    proposal: tuple[str, ...] = ()
    offer: str = ""
    refused: tuple[str, ...] = ()  # said instead of the tool's own reason when it refuses (with its facts)
    link_title: str = ""
    codes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """How a tool is chosen and spoken about.

    `reply`, `proposal` and `done` are templates: lines with `{fact}` fields; a line whose facts the
    result lacks is left out, so a missing field never becomes a guess.
    """

    name: str
    intents: tuple[str, ...]
    parameters: tuple[str, ...] = ("order_id",)  # entity kinds (order_id, email, date, product, money)
    confirm: bool = False  # changes something: proposed with Approve / Cancel, run only once approved
    reply: tuple[str, ...] = ()
    proposal: tuple[str, ...] = ()  # the question a confirm tool asks before it runs
    choose_from: tuple[str, ...] = ()  # order states a missing order number is chosen among (empty: any)
    title: str = ""  # the name of the system, for citations and honest failure replies
    # a button offered beside another tool's result whose `status_code` fact is in `choose_from`
    # ("Request refund" under a delivered order); its action must name this tool's intent
    offer: str = ""
    offer_action: str = ""
    # words that, beside an explicit order number, choose this tool whatever the intent ("where is 12345")
    cues: TextTest | None = None
    # a confirm tool: words that make a message ask for it ("refund it please", not "where is my refund?");
    # None: the act stage's general request words (want, need, please, can you…, engine/cues.py)
    asks: TextTest | None = None
    # the same texts in reply languages (engine/language.py codes); a language not here gets the ones above,
    # which are the operator's and claim no language
    languages: tuple[tuple[str, Wording], ...] = ()

    def wording(self, language: str) -> tuple[Wording, str]:
        """The texts for a reply in `language`, and the language they are written in ("" when unknown)."""
        for code, words in self.languages:
            if code == language:
                return words, code
        return Wording(self.reply, self.proposal, self.offer), ""


@dataclass(frozen=True, slots=True)
class OrderSummary:
    order_id: str
    status: str
    placed: str = ""  # ISO date
    total: str = ""


class Tool(Protocol):
    @property
    def spec(self) -> ToolSpec: ...

    async def run(self, call: ToolCall, idempotency_key: str) -> ToolResult:
        """Raises ToolError; `idempotency_key` is the same for every retry of one approved action."""
        ...

    async def preview(self, call: ToolCall) -> ToolResult:
        """What a `confirm` tool shows before it is approved (checks the call could run); raises ToolError."""
        ...


class OrderDirectory(Protocol):
    """The user's own orders, for "which order?" and for reading a bare number as one of theirs."""

    def normalise(self, number: str) -> str:
        """ "12345" → "BC-12345", the system's own spelling."""
        ...

    async def orders(self, user_id: str) -> Sequence[OrderSummary]:
        """Raises ToolError."""
        ...


def fact_text(value: object) -> str:
    """A fact as the reply shows it: ISO dates read as "Mon 30 Nov 2026", lists joined, others as text."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple):
        return ", ".join(fact_text(v) for v in value if v is not None)
    if isinstance(value, dict):
        return ""  # a structure is not something to say: map a field inside it instead
    text = str(value).strip()
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?", text):
        try:
            return date.fromisoformat(text[:10]).isoformat()  # said in the reply's language by `render`
        except ValueError:
            return text
    return text[:500]


_FIELD = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


def render(
    template: Sequence[str], facts: Mapping[str, str], language: str = "en", wording: Wording | None = None
) -> str:
    """Each line with every field filled; lines naming a fact the result lacks are dropped. Dates are
    written as `language` writes them; a fact with a `_code` beside it ("status" and "status_code") is
    said in the wording's words for that code, when it has them."""
    words = dict(wording.codes) if wording is not None else {}

    def said(name: str) -> str:
        value = facts[name]
        code = facts.get(f"{name}_code", "")
        if code and code in words:
            return words[code]
        return spoken_date(value, language) if ISO_DATE.fullmatch(value) else value

    lines = []
    for line in template:
        names = _FIELD.findall(line)
        if all(facts.get(name) for name in names):
            lines.append(_FIELD.sub(lambda m: said(m.group(1)), line))
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class Tools:
    """The configured tools and, when there is one, the order system's directory of a user's orders."""

    tools: tuple[Tool, ...] = ()
    directory: OrderDirectory | None = None
    by_name: dict[str, Tool] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        for tool in self.tools:
            if tool.spec.name in self.by_name:
                raise ValueError(f"two tools are named {tool.spec.name!r}")
            self.by_name[tool.spec.name] = tool

    def for_intent(self, intent: str) -> Tool | None:
        return next((t for t in self.tools if intent in t.spec.intents), None)

    def for_cues(self, text: str) -> Tool | None:
        return next((t for t in self.tools if t.spec.cues is not None and t.spec.cues(text)), None)
