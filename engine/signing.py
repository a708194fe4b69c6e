"""HMAC-SHA256 over a timestamp and a body, as order webhooks and the notices we send are signed.

    X-Switchboard-Timestamp: 1767000000
    X-Switchboard-Signature: v1=<hex of HMAC-SHA256(secret, "v1:{timestamp}:{body}")>

Like Slack's scheme: the timestamp is inside the signature and a request older than the window is
refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import time

TIMESTAMP_HEADER = "X-Switchboard-Timestamp"
SIGNATURE_HEADER = "X-Switchboard-Signature"
WINDOW_S = 300


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"v1:{timestamp}:".encode() + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = int(time.time() if now is None else now)
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: sign(secret, timestamp, body)}


def verify(secret: str, timestamp: str, signature: str, body: bytes, now: float | None = None) -> str | None:
    """None when the signature is good and fresh; otherwise why not (for the 401's message)."""
    if not timestamp or not signature:
        return "missing signature headers"
    try:
        sent = int(timestamp)
    except ValueError:
        return "the timestamp is not a number"
    if abs((time.time() if now is None else now) - sent) > WINDOW_S:
        return "the timestamp is outside the 5-minute window"
    if not hmac.compare_digest(signature.encode(), sign(secret, sent, body).encode()):
        return "the signature does not match"
    return None
