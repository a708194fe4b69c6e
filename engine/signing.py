"""HMAC-SHA256 over a timestamp and a body, as order webhooks and the notices we send are signed.

    X-Switchboard-Timestamp: 1767000000
    X-Switchboard-Signature: v1=<hex of HMAC-SHA256(secret, "v1:{timestamp}:{body}")>

Like Slack's scheme: the timestamp is inside the signature and a request older than the window is
refused, so a captured request cannot be replayed later. The notices we send sign "v1:notice:{timestamp}:
{body}" with the same secret, so one direction's request never verifies as the other's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

TIMESTAMP_HEADER = "X-Switchboard-Timestamp"
SIGNATURE_HEADER = "X-Switchboard-Signature"
WINDOW_S = 300
NOTICE = "notice:"  # the context of the notices we send (order webhooks have none)


def sign(secret: str, timestamp: int, body: bytes, context: str = "") -> str:
    mac = hmac.new(secret.encode(), f"v1:{context}{timestamp}:".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def signed_headers(secret: str, body: bytes, now: float | None = None, context: str = "") -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body, context)}


def verify(
    secret: str, timestamp: str, signature: str, body: bytes, now: float | None = None, context: str = ""
) -> str | None:
    """None when the signature is good and fresh; otherwise why not (for the 401's message)."""
    if not timestamp or not signature:
        return "missing signature headers"
    try:
        sent = int(timestamp)
    except ValueError:
        return "the timestamp is not a number"
    if abs((time.time() if now is None else now) - sent) > WINDOW_S:
        return "the timestamp is outside the 5-minute window"
    if not hmac.compare_digest(signature.encode(), sign(secret, sent, body, context).encode()):
        return "the signature does not match"
    return None


def b64url(data: bytes) -> str:
    """Unpadded base64url, as tokens and JWTs carry it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64url_json(value: Any) -> str:
    """A JSON value as one compact, key-sorted, base64url token segment."""
    return b64url(json.dumps(value, separators=(",", ":"), sort_keys=True).encode())
