"""Who is on the other end: loopback hosts, and the client's address behind reverse proxies you trust.

Per-address limits (new anonymous sessions, sockets yet to say hello, anonymous messages) and the
loopback-only views (`/readyz`'s error) read `request.remote`. Behind nginx or a load balancer that is the
proxy's address for everyone; with the proxy listed in `server.trusted_proxies`, `forwarded_for` puts the
client's own address there, read from `X-Forwarded-For` right to left past the trusted hops (a client can
write anything at the left of that header, never at the right, which its proxy appends).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client_address(request: web.BaseRequest) -> str:
    """What per-address limits count under: an IPv6 host gets a whole /64 (one subscriber's), so it is one."""
    remote = request.remote or "?"
    try:
        address = ipaddress.ip_address(remote)
    except ValueError:
        return remote
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def networks(entries: Sequence[str]) -> tuple[Network, ...]:
    """ "10.0.0.5" or "10.0.0.0/8" entries as networks (ValueError names a bad one)."""
    parsed = []
    for entry in entries:
        try:
            parsed.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or network (10.0.0.5, 10.0.0.0/8)") from None
    return tuple(parsed)


def _trusted(address: str, trusted: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


def client_behind(remote: str, forwarded: str, trusted: Sequence[Network]) -> str:
    """The client's address: `remote` unless it is a trusted proxy; then the right-most hop of
    `X-Forwarded-For` that is not a trusted proxy (an unreadable hop ends the walk at the last good one)."""
    if not _trusted(remote, trusted):
        return remote
    client = remote
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            break
        client = hop
        if not _trusted(hop, trusted):
            break
    return client


def forwarded_for(trusted: Sequence[Network]) -> Middleware:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        forwarded = request.headers.get("X-Forwarded-For")
        if forwarded and request.remote:
            client = client_behind(request.remote, forwarded, trusted)
            if client != request.remote:
                request = request.clone(remote=client)
        return await handler(request)

    return middleware
