"""Signed, expiring web sessions: `v1.<payload>.<mac>`, the payload base64url JSON {"u": user, "exp": unix
time, "anon": bool}, the mac an HMAC-SHA256 of "session:v1.<payload>" under the server's secret.

The site's back end asks for a named session (it knows who is signed in, as for REST); the demo page and
sites that allow it get anonymous ones, each with a user id of its own. Nothing in the token is secret,
only unforgeable: a changed user or expiry no longer matches the mac.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from channels.rest import IDENTIFIER
from engine.signing import b64url, unb64url

_CONTEXT = b"session:"
MAX_TOKEN_CHARS = 1024


@dataclass(frozen=True, slots=True)
class Session:
    user_id: str
    expires_at: int
    anonymous: bool


class SessionRefused(Exception):
    """Why a token was not accepted: `code` is `session_expired` or `unauthorized`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class SessionSigner:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the session secret must be at least 16 bytes")
        self._secret = secret

    def _mac(self, head: str) -> str:
        return b64url(hmac.new(self._secret, _CONTEXT + head.encode(), hashlib.sha256).digest())

    def issue(self, user_id: str, ttl_s: int, anonymous: bool = False, now: float | None = None) -> tuple[str, Session]:
        if not IDENTIFIER.match(user_id):
            raise ValueError("user ids are 1-128 characters of letters, digits and _ . : @ + -")
        session = Session(user_id, int(time.time() if now is None else now) + ttl_s, anonymous)
        payload = json.dumps({"u": user_id, "exp": session.expires_at, "anon": anonymous}, separators=(",", ":"))
        head = "v1." + b64url(payload.encode())
        return f"{head}.{self._mac(head)}", session

    def anonymous(self, ttl_s: int) -> tuple[str, Session]:
        return self.issue(f"web-anon-{secrets.token_hex(12)}", ttl_s, anonymous=True)

    def verify(self, token: object, now: float | None = None) -> Session:
        if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS or not token.isascii():
            raise SessionRefused("unauthorized", "a session token from POST /api/session is required")
        head, _, mac = token.rpartition(".")
        if not head.startswith("v1.") or not hmac.compare_digest(mac.encode(), self._mac(head).encode()):
            raise SessionRefused("unauthorized", "the session token is not valid")
        try:
            payload = json.loads(unb64url(head[3:]))
            session = Session(str(payload["u"]), int(payload["exp"]), bool(payload["anon"]))
        except (ValueError, KeyError, TypeError):
            raise SessionRefused("unauthorized", "the session token is not valid") from None
        if session.expires_at <= (time.time() if now is None else now):
            raise SessionRefused("session_expired", "the session has expired; ask for a new one")
        return session
