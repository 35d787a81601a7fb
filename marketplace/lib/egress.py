"""Outgoing requests to addresses a user gave (webhooks): never to the platform's own network (SSRF, OWASP API7).

`check_url` refuses at once what is refused whatever DNS says (a scheme other than http(s), credentials in the URL,
a literal private address, `localhost`); `resolve` is called right before each request: it resolves the host and
refuses it if any address is private, loopback, link-local, multicast, reserved or unspecified, and returns the
address to connect to, so that the request goes to the address checked (a DNS answer that changes between the
check and the connection, "DNS rebinding", can't redirect it). `allow_private` (a setting) lifts the address check
for tests and closed deployments.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit


class EgressRefused(Exception):
    """The URL may not be called; the message says why."""


def _blocked(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
            or address.is_reserved or address.is_unspecified or not address.is_global)


def check_url(url: str, *, allow_private: bool) -> None:
    try:
        parts = urlsplit(url)
        _ = parts.hostname, parts.port
    except ValueError as exc:  # a malformed IPv6 literal, a port out of range
        raise EgressRefused(f"malformed URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise EgressRefused("an http or https URL with a host is expected")
    if parts.username or parts.password:
        raise EgressRefused("credentials in the URL are refused")
    if allow_private:
        return
    host = parts.hostname.rstrip(".").lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal")):
        raise EgressRefused(f"{host} is a local name")
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return
    if _blocked(literal):
        raise EgressRefused(f"{host} is not a public address")


async def resolve(url: str, *, allow_private: bool) -> str:
    """The address to connect to for `url`'s host, every one of its addresses checked."""
    check_url(url, allow_private=allow_private)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise EgressRefused(f"{host} does not resolve: {exc}") from exc
    addresses = [ipaddress.ip_address(info[4][0]) for info in infos]
    if not allow_private:
        bad = [str(a) for a in addresses if _blocked(a)]
        if bad:
            raise EgressRefused(f"{host} resolves to an address that is not public ({', '.join(bad)})")
    return str(addresses[0])
