"""Consent for actions that change things: a signed, single-use, expiring token on the Approve / Cancel
buttons, bound to the user, the conversation and the exact call.

The signature makes a token unforgeable and ties it to one user, conversation and call; the proposal
kept in the store (taken atomically when a click arrives) makes it single-use, across processes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Protocol

from engine.signing import b64url, b64url_json, unb64url
from engine.tools import ToolCall
from engine.types import ConversationRef

APPROVE = "approve"
CANCEL = "cancel"


class ConsentError(Exception):
    """A click that may not run anything; `reason` goes to the audit log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Proposal:
    nonce: str  # which proposal: single use
    call: ToolCall
    conversation: str  # a digest of the conversation's address
    expires_at: float
    key: str = ""  # the call's idempotency key: the same call by the same user on one day is one change


OPEN = "open"
ATTEMPTED = "attempted"  # approved, but the system's answer was lost: it may have been done


def idempotency_key(call: ToolCall, day: str) -> str:
    """Asking again the same day for the same change gives the same key, so the system makes it once."""
    material = json.dumps([call.tool, call.user_id, dict(call.arguments), day], sort_keys=True)
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def conversation_digest(conversation: ConversationRef) -> str:
    return hashlib.sha256(conversation.key.encode()).hexdigest()[:24]


class ConsentSigner:
    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the consent signing key must be at least 16 bytes")
        self._key = key

    def _mac(self, payload: str) -> str:
        return b64url(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def sign(self, proposal: Proposal) -> str:
        body = {
            "n": proposal.nonce,
            "t": proposal.call.tool,
            "a": dict(proposal.call.arguments),
            "u": proposal.call.user_id,
            "c": proposal.conversation,
            "e": int(proposal.expires_at),
            "k": proposal.key,
        }
        payload = b64url_json(body)
        return f"{payload}.{self._mac(payload)}"

    def verify(self, token: str, user_id: str, conversation: ConversationRef, now: float | None = None) -> Proposal:
        """The proposal a click may run, or ConsentError: forged, another user's, another conversation's, expired."""
        payload, _, mac = token.partition(".")
        if not payload or not mac or len(token) > 2000 or not token.isascii():
            raise ConsentError("bad_token")
        if not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            raise ConsentError("bad_signature")
        try:
            body = json.loads(unb64url(payload))
            call = ToolCall.of(str(body["t"]), {str(k): str(v) for k, v in body["a"].items()}, str(body["u"]))
            proposal = Proposal(str(body["n"]), call, str(body["c"]), float(body["e"]), str(body.get("k", "")))
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ConsentError("bad_token") from None
        if call.user_id != user_id:
            raise ConsentError("another_user")
        if proposal.conversation != conversation_digest(conversation):
            raise ConsentError("another_conversation")
        if proposal.expires_at < (time.time() if now is None else now):
            raise ConsentError("expired")
        return proposal


class ProposalStore(Protocol):
    """Raises StoreUnavailable when down."""

    async def put(self, proposal: Proposal, state: str = OPEN) -> None: ...

    async def take(self, proposal: Proposal) -> str | None:
        """The proposal's state (OPEN or ATTEMPTED) for the first click that takes it; None after that."""
        ...


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at: float
    user_id: str
    conversation: str  # channel and conversation id
    tool: str
    arguments: tuple[tuple[str, str], ...]
    outcome: str  # proposed, executed, failed, cancelled, refused
    detail: str = ""  # why refused or failed, or the system's reference (a refund id)


class AuditLog(Protocol):
    async def record(self, entry: AuditEntry) -> None: ...


class PendingChoices(Protocol):
    """A "which order?" question waiting for its answer, per conversation (short-lived)."""

    async def ask(self, conversation: ConversationRef, tool: str, candidates: list[str]) -> None: ...

    async def take(self, conversation: ConversationRef) -> tuple[str, list[str]] | None: ...
