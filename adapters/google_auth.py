"""OAuth access tokens for Google APIs (FCM HTTP v1) from a service account, refreshed before they expire.

The service account's JSON (`client_email`, `private_key`, `token_uri`) signs an RS256 JWT grant; the
token endpoint answers an access token valid for about an hour, which is reused until five minutes
before it expires, or until the API says it is no longer accepted.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from adapters.http import FencedClient
from engine.signing import b64url, b64url_json
from engine.tools import Failure, ToolError

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    client_email: str
    private_key: str  # PEM; never logged
    token_uri: str

    @staticmethod
    def from_json(text: str) -> ServiceAccount:
        """Raises ValueError naming what is missing."""
        data = json.loads(text)
        missing = [k for k in ("client_email", "private_key", "token_uri") if not isinstance(data.get(k), str)]
        if missing:
            raise ValueError(f"the service account JSON has no {', '.join(missing)}")
        if urlsplit(data["token_uri"]).scheme not in ("http", "https"):
            raise ValueError("the service account's token_uri is not an http(s) URL")
        return ServiceAccount(data["client_email"], data["private_key"], data["token_uri"])


def grant_assertion(account: ServiceAccount, scope: str, now: float) -> str:
    key = serialization.load_pem_private_key(account.private_key.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the service account key must be an RSA private key")
    header = b64url_json({"alg": "RS256", "typ": "JWT"})
    claims = {
        "iss": account.client_email,
        "scope": scope,
        "aud": account.token_uri,
        "iat": int(now),
        "exp": int(now) + 3600,
    }
    body = b64url_json(claims)
    signature = key.sign(f"{header}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{header}.{body}.{b64url(signature)}"


class AccessTokens:
    """A static token (which expires: for trying things out) or one minted from a service account."""

    def __init__(self, client: FencedClient, account: ServiceAccount | None = None, static: str = "") -> None:
        if (account is None) == (not static):
            raise ValueError("give either a service account or a static token")
        self.client = client
        self.account = account
        self.static = static
        self._token: tuple[str, float] | None = None  # (token, when it stops being used)
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        if self.account is None:
            return self.static
        async with self._lock:  # one refresh, however many pushes wait for it
            if self._token is None or time.time() >= self._token[1]:
                self._token = await self._mint(self.account)
            return self._token[0]

    def refused(self) -> None:
        """The API refused the token (401): mint a new one next time."""
        self._token = None

    async def _mint(self, account: ServiceAccount) -> tuple[str, float]:
        now = time.time()
        form = urlencode({"grant_type": GRANT, "assertion": grant_assertion(account, FCM_SCOPE, now)}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        response = await self.client.request("POST", account.token_uri, 10.0, headers, data=form)
        body = response.body if isinstance(response.body, dict) else {}
        token, lifetime = body.get("access_token"), body.get("expires_in", 3600)
        if response.status != 200 or not isinstance(token, str) or not isinstance(lifetime, int | float):
            raise ToolError(Failure.UNAVAILABLE, f"the token endpoint answered HTTP {response.status}")
        return token, now + max(60.0, float(lifetime) - 300)
