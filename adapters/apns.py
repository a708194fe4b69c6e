"""Push replies to iPhones through Apple's APNs provider API, which speaks HTTP/2 only (httpx with h2).

    POST {base_url}/3/device/{token}
    authorization: bearer <JWT, ES256 over {"iss": team_id, "iat": now} with the .p8 key, kid = key_id>
    apns-topic: <the app's bundle id>   apns-push-type: alert   apns-priority: 10
    {"aps": {"alert": {"title", "body"}, "category": "SWITCHBOARD_REPLY", "thread-id"}, "conversation_id",
     "message_id"}

200 is sent; 410, or 400 BadDeviceToken / DeviceTokenNotForTopic, means the token is dead (removed); 429
and 5xx are retried with backoff. The provider token is reused for 50 minutes (Apple refuses one renewed
more often than every 20 minutes, and older than an hour).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from adapters.http import is_private, retry_after_s
from adapters.push import Pushed, preview
from engine.signing import b64url, b64url_json
from engine.types import Reply

DEAD = frozenset({"BadDeviceToken", "DeviceTokenNotForTopic", "Unregistered"})
TOKEN_LIFETIME_S = 50 * 60


@dataclass(frozen=True, slots=True)
class ApnsSettings:
    base_url: str  # https://api.push.apple.com (api.sandbox.push.apple.com for development builds)
    team_id: str
    key_id: str
    private_key: str  # the .p8 key's PEM text; never logged
    topic: str  # the app's bundle id
    title: str = "Support"
    preview_chars: int = 120
    attempts: int = 4
    first_backoff_s: float = 0.2
    timeout_s: float = 5.0
    ca_file: str | None = None  # a private CA (tests, a relay); None: the system's
    allow_private: bool = False


def provider_token(settings: ApnsSettings, now: float) -> str:
    """The ES256 JWT APNs wants: raw r||s signature, not DER."""
    key = serialization.load_pem_private_key(settings.private_key.encode(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError("the APNs key must be an EC (P-256) private key")
    header = b64url_json({"alg": "ES256", "kid": settings.key_id})
    claims = b64url_json({"iss": settings.team_id, "iat": int(now)})
    der = key.sign(f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    r, s = decode_dss_signature(der)
    return f"{header}.{claims}.{b64url(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


def apns_payload(reply: Reply, conversation_id: str, message_id: str, settings: ApnsSettings) -> dict[str, Any]:
    return {
        "aps": {
            "alert": {"title": settings.title, "body": preview(reply.text, settings.preview_chars)},
            "category": "SWITCHBOARD_REPLY",  # the app registers its buttons under this category
            "thread-id": conversation_id,
            "sound": "default",
        },
        "conversation_id": conversation_id,
        "message_id": message_id,
    }


class ApnsPusher:
    def __init__(self, settings: ApnsSettings) -> None:
        self.settings = settings
        self.host = urlsplit(settings.base_url).hostname or ""
        self._client: httpx.AsyncClient | None = None
        self._token: tuple[str, float] | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:
            verify: Any = ssl.create_default_context(cafile=self.settings.ca_file) if self.settings.ca_file else True
            # trust_env off: no proxy from the environment sees the provider token
            self._client = httpx.AsyncClient(http2=True, verify=verify, trust_env=False, follow_redirects=False)
        return self._client

    def _bearer(self) -> str:
        now = time.time()
        if self._token is None or now - self._token[1] > TOKEN_LIFETIME_S:
            self._token = (provider_token(self.settings, now), now)
        return self._token[0]

    async def _check_address(self) -> None:
        """The gateway's host must not resolve to a private address unless allowed (as for tools)."""
        if self.settings.allow_private:
            return
        try:
            ipaddress.ip_address(self.host)
            addresses = [self.host]
        except ValueError:
            found = await asyncio.get_running_loop().getaddrinfo(self.host, 443, type=socket.SOCK_STREAM)
            addresses = [str(info[4][0]) for info in found]
        if not addresses or any(is_private(a) for a in addresses):
            raise OSError(f"{self.host} resolves to a private address")

    async def push(self, token: str, reply: Reply, conversation_id: str, message_id: str) -> Pushed:
        url = f"{self.settings.base_url.rstrip('/')}/3/device/{quote(token, safe='')}"
        body = apns_payload(reply, conversation_id, message_id, self.settings)
        wait = self.settings.first_backoff_s
        for attempt in range(1, self.settings.attempts + 1):
            headers = {
                "authorization": f"bearer {self._bearer()}",
                "apns-topic": self.settings.topic,
                "apns-push-type": "alert",
                "apns-priority": "10",
            }
            status, reason, retry_after = 0, "", 0.0
            try:
                # the whole request within timeout_s (httpx's own timeout is per read: a gateway sending a
                # byte every few seconds would hold the push for ever)
                async with asyncio.timeout(self.settings.timeout_s):
                    await self._check_address()
                    response = await self._http().post(url, json=body, headers=headers, timeout=self.settings.timeout_s)
                status = response.status_code
                reason = _reason(response)
                retry_after = retry_after_s(response.headers.get("retry-after", ""))
            except (httpx.HTTPError, OSError, TimeoutError):
                status = 0  # unreachable or too slow: retried like a 5xx
            if status == 200:
                return Pushed.SENT
            if status == 410 or (status == 400 and reason in DEAD):
                return Pushed.UNREGISTERED
            if status == 403 and reason == "ExpiredProviderToken":
                self._token = None  # a fresh one on the next attempt
            elif status not in (0, 429) and status < 500:
                return Pushed.FAILED
            if attempt == self.settings.attempts:
                return Pushed.FAILED
            await asyncio.sleep(min(60.0, retry_after or wait))
            wait *= 2
        return Pushed.FAILED  # pragma: no cover - the loop returns

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def _reason(response: httpx.Response) -> str:
    try:
        return str(response.json().get("reason", ""))
    except (ValueError, AttributeError):
        return ""
