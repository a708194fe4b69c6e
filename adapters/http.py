"""Outbound HTTP for tools, fenced in: only allowed hosts, no private or loopback addresses unless allowed
(checked on the addresses actually connected to, so DNS cannot point an allowed name inside), redirects
only to allowed hosts, bounded time and response size, JSON only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from engine.tools import Failure, ToolError

MAX_REDIRECTS = 3
REDIRECTS = frozenset({301, 302, 303, 307, 308})


# IPv6 ranges that carry an IPv4 address in their last 32 bits (NAT64, IPv4-compatible)
_EMBEDDING = (
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("::/96"),
)


def is_private(address: str) -> bool:
    """Loopback, private, link-local, reserved… anything that is not a public internet address, also when
    an IPv6 address wraps an IPv4 one (mapped, NAT64, 6to4, Teredo, IPv4-compatible)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True  # not an address at all: never trusted as a public one
    if isinstance(ip, ipaddress.IPv6Address):
        inner = [ip.ipv4_mapped, ip.sixtofour, ip.teredo[1] if ip.teredo else None]
        inner += [ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF) for net in _EMBEDDING if ip in net]
        if any(v4 is not None and is_private(str(v4)) for v4 in inner):
            return True
    return not ip.is_global or ip.is_multicast


@dataclass(frozen=True, slots=True)
class HostRules:
    """`hosts`: exact names or `*.example.com` (its subdomains); `allow_private`: loopback and private
    addresses too (a back end on the same network, the demo order system)."""

    hosts: frozenset[str]
    allow_private: bool = False

    def allows(self, host: str) -> bool:
        host = host.lower().rstrip(".")
        for allowed in self.hosts:
            allowed = allowed.lower()
            if host == allowed or (allowed.startswith("*.") and host.endswith(allowed[1:])):
                return True
        return False


class PrivateAddressError(OSError):
    """A name that resolves only to addresses a tool may not reach."""


class _PublicAddressesOnly(AbstractResolver):
    """Resolves as usual, then drops private addresses: a public name pointing inside is refused."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        public = [r for r in found if not is_private(r["host"])]
        if not public:
            raise PrivateAddressError(f"{host} resolves only to private addresses")
        return public

    async def close(self) -> None:
        await self._inner.close()


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: Any  # parsed JSON (None for an empty body)
    retry_after: float = 0.0  # seconds, from a Retry-After header in seconds


class FencedClient:
    """One aiohttp session per set of rules; `close()` at shutdown."""

    def __init__(self, rules: HostRules, max_bytes: int = 256 * 1024) -> None:
        self.rules = rules
        self.max_bytes = max_bytes
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            resolver: AbstractResolver = ThreadedResolver() if self.rules.allow_private else _PublicAddressesOnly()
            connector = aiohttp.TCPConnector(resolver=resolver, limit=50, ttl_dns_cache=60)
            # trust_env off: HTTP(S)_PROXY would send our requests (and tokens) somewhere unchecked
            self._session = aiohttp.ClientSession(connector=connector, trust_env=False)
        return self._session

    def check(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ToolError(Failure.INVALID, f"not an http(s) URL: {parts.scheme}://…")
        if parts.username or parts.password:
            raise ToolError(Failure.INVALID, "credentials in a tool URL are not allowed; use an auth setting")
        if not self.rules.allows(parts.hostname):
            raise ToolError(Failure.INVALID, f"the host {parts.hostname} is not allowed for this tool")
        try:
            literal = ipaddress.ip_address(parts.hostname)
        except ValueError:
            return  # a name: checked on the addresses it resolves to
        if not self.rules.allow_private and is_private(str(literal)):
            raise ToolError(Failure.INVALID, f"{parts.hostname} is a private address")

    async def request(
        self,
        method: str,
        url: str,
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        lenient: bool = False,
    ) -> Response:
        """Raises ToolError: INVALID for a refused host or redirect, an oversized or (unless `lenient`: then
        its body is None) non-JSON body; UNAVAILABLE for a timeout or a connection that failed."""
        origin = _origin(url)
        sent = dict(headers or {})
        try:
            async with asyncio.timeout(timeout_s):
                for _ in range(MAX_REDIRECTS + 1):
                    self.check(url)
                    if _origin(url) != origin:
                        sent.pop("Authorization", None)  # a token is for the origin it was configured for
                    async with self._open().request(
                        method, url, headers=sent, json=json_body, data=data, allow_redirects=False
                    ) as response:
                        if response.status in REDIRECTS and "Location" in response.headers:
                            target = urljoin(url, response.headers["Location"])
                            refuse_downgrade(url, target)
                            url = target
                            if response.status == 303:
                                method, json_body, data = "GET", None, None
                            continue
                        retry_after = retry_after_s(response.headers.get("Retry-After", ""))
                        try:
                            body = await self._json(response)
                        except ToolError:
                            if not lenient:
                                raise
                            body = None  # not JSON or too large: the status decides
                        return Response(response.status, body, retry_after)
                raise ToolError(Failure.INVALID, f"more than {MAX_REDIRECTS} redirects")
        except TimeoutError:
            raise ToolError(Failure.UNAVAILABLE, f"no answer within {timeout_s:g} s") from None
        except ValueError:  # a malformed URL or redirect target ("http://[::1")
            raise ToolError(Failure.INVALID, "a malformed URL") from None
        except aiohttp.ClientConnectorError as error:
            if isinstance(error.os_error, PrivateAddressError):
                raise ToolError(Failure.INVALID, str(error.os_error)) from None
            raise ToolError(Failure.UNAVAILABLE, f"connection failed ({type(error).__name__})") from None
        except (aiohttp.ClientError, OSError) as error:
            raise ToolError(Failure.UNAVAILABLE, f"connection failed ({type(error).__name__})") from None

    async def _json(self, response: aiohttp.ClientResponse) -> Any:
        if response.content_length is not None and response.content_length > self.max_bytes:
            raise ToolError(Failure.INVALID, f"the response is over {self.max_bytes} bytes")
        body = bytearray()
        async for chunk in response.content.iter_chunked(65536):
            body += chunk
            if len(body) > self.max_bytes:
                raise ToolError(Failure.INVALID, f"the response is over {self.max_bytes} bytes")
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise ToolError(Failure.INVALID, f"the response (HTTP {response.status}) is not JSON") from None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


def retry_after_s(value: str) -> float:
    """A Retry-After header in seconds; 0 for an HTTP date or nothing (the caller's own backoff applies)."""
    try:
        return max(0.0, float(value or "0"))
    except ValueError:
        return 0.0


def refuse_downgrade(current: str, target: str) -> None:
    """A redirect from https to plain http would send the request (and its answer) in the clear."""
    if urlsplit(current).scheme == "https" and urlsplit(target).scheme != "https":
        raise ToolError(Failure.INVALID, "a redirect from https to plain http")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def failure_for(status: int) -> Failure | None:
    """How an HTTP status reads for a tool: None when the call succeeded."""
    if 200 <= status < 300:
        return None
    if status in (403, 404, 410):
        return Failure.NOT_FOUND  # someone else's and missing look the same to the user
    if status == 429 or status >= 500:
        return Failure.UNAVAILABLE
    if status in (409, 422):
        return Failure.REFUSED
    return Failure.INVALID  # 400, 401 (our token), a redirect without a Location…
