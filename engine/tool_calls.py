"""Tool calls a model proposes (JSON function calling through the chat template), for models large enough
to be asked: every proposal is validated against the tool's schema before anything runs, and no argument
may be invented (an order number must be one the user wrote).

The default small models are not reliable function callers, so this is off unless `generation.tool_calls`
turns it on; tools are then still chosen in code first, and the model is asked only when code found none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from engine.protocols import ChatMessage
from engine.tools import ORDER_NUMBER, ToolCall, Tools, ToolSpec
from engine.types import Turn

MAX_VALUE_CHARS = 100
_TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)
_PLACEHOLDER = re.compile(r"^<[A-Z][A-Z_]*_\d+>\Z")
INSTRUCTIONS = (
    "You route customer messages to tools. If the message asks about the customer's own order in a way one "
    "of the tools answers, reply with exactly one tool call and nothing else. Use only values the customer "
    "wrote; never make one up. If no tool fits, reply with the single word: none."
)


class CallProposer(Protocol):
    async def propose(self, messages: Sequence[ChatMessage], tools: Sequence[Mapping[str, Any]]) -> str:
        """The model's raw answer to `messages` with `tools` offered through its chat template."""
        ...


def schema(spec: ToolSpec) -> dict[str, Any]:
    """The tool as the chat template's function schema (what the model is offered)."""
    return {
        "type": "function",
        "function": {
            "name": spec.name,
            "description": f"{spec.title or 'A tool'} for: {', '.join(i.replace('_', ' ') for i in spec.intents)}",
            "parameters": {
                "type": "object",
                "properties": {p: {"type": "string", "description": p.replace("_", " ")} for p in spec.parameters},
                "required": list(spec.parameters),
                "additionalProperties": False,
            },
        },
    }


def request_messages(turn: Turn) -> list[ChatMessage]:
    return [ChatMessage("system", INSTRUCTIONS), ChatMessage("user", turn.message.text)]


def _proposal(raw: str) -> Any:
    match = _TOOL_CALL.search(raw)
    text = match.group(1) if match else raw.strip()
    if not text.startswith("{"):
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end < start:
            raise ValueError("no JSON object in the answer")
        text = text[start : end + 1]
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        raise ValueError("the call is not valid JSON") from None


def validate_call(raw: str, tools: Tools, turn: Turn) -> ToolCall:
    """The call the model proposed, checked: a known tool, exactly its parameters, string values within
    bounds, and every value one the user gave (a placeholder of theirs is read back from the vault).
    Raises ValueError naming what is wrong; nothing runs then."""
    proposal = _proposal(raw)
    if not isinstance(proposal, dict):
        raise ValueError("the call is not an object")
    name, arguments = proposal.get("name"), proposal.get("arguments", proposal.get("parameters"))
    if isinstance(arguments, str):  # some templates send the arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except ValueError:
            raise ValueError("the arguments are not valid JSON") from None
    tool = tools.by_name.get(name) if isinstance(name, str) else None
    if tool is None:
        raise ValueError("no tool by that name")  # the name is not repeated: it is the model's text
    if not isinstance(arguments, dict):
        raise ValueError("the arguments are not an object")
    expected = set(tool.spec.parameters)
    if set(arguments) != expected:
        raise ValueError(f"{tool.spec.name} takes exactly {sorted(expected)}")  # not the model's own names
    checked = {}
    for key, value in arguments.items():
        if not isinstance(value, str) or not value.strip() or len(value) > MAX_VALUE_CHARS:
            raise ValueError(f"{key} must be a short string")
        checked[key] = _given_by_user(key, value.strip(), turn)
    return ToolCall.of(tool.spec.name, checked, turn.message.user_id)


def _given_by_user(kind: str, value: str, turn: Turn) -> str:
    if _PLACEHOLDER.match(value):
        found = next((v.value for v in turn.vault if v.placeholder == value), None)
        if found is None:
            raise ValueError(f"{kind} names a placeholder that is not in this message")
        value = found
    if kind == "order_id":
        typed = {m.group(1) for m in ORDER_NUMBER.finditer(turn.message.text)}
        typed |= {m.group(1) for e in turn.entities if e.kind == "order_id" for m in ORDER_NUMBER.finditer(e.value)}
        number = ORDER_NUMBER.fullmatch(value)
        if number is None or number.group(1) not in typed:
            raise ValueError("order_id is not an order number the user wrote")
        return value
    if not any(e.kind == kind and value in (e.value, e.text) for e in turn.entities):
        raise ValueError(f"{kind} is not a value found in the message")
    return next(e.value for e in turn.entities if e.kind == kind and value in (e.value, e.text))
