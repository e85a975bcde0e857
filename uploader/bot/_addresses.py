"""Which links the bot may fetch: http(s) only, and only public addresses.

A link is refused before any connection when its scheme is not http/https, when it carries
credentials, or when any address its host resolves to is private, loopback, link-local,
multicast, reserved, not globally routable, or a cloud metadata endpoint. The caller connects
to the address checked here (not to a second lookup), so DNS cannot answer differently between
the check and the connection.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Awaitable, Callable, Sequence

import httpx
import trio

from ._errors import BadLinkError, PrivateAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[Sequence[str]]]
"""``(host, port) -> addresses as text``; `resolve_host` by default."""

MAX_URL_CHARS = 2048
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
"""Cloud instance-metadata endpoints (AWS/GCP/Azure, AWS IPv6, Alibaba)."""


def parse_link(url: str) -> httpx.URL:
    """Check a link's shape.

    Raises:
        BadLinkError: not an absolute http(s) URL with a host, or it carries credentials.
    """
    if len(url) > MAX_URL_CHARS:
        raise BadLinkError(f"That link is over {MAX_URL_CHARS} characters.")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError):
        raise BadLinkError("That is not a link I can read.") from None
    if parsed.scheme not in ("http", "https"):
        raise BadLinkError("Only http:// and https:// links can be fetched.")
    if not parsed.host:
        raise BadLinkError("That link has no host.")
    if parsed.userinfo:
        raise BadLinkError("Links with a user name or password are not fetched.")
    return parsed


def address_refusal(address: IPAddress) -> str | None:
    """Why an address may not be fetched from, or None when it is public."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_private:
        return "a private network address"
    if address.is_multicast or address.is_reserved or address.is_unspecified:
        return "an address that is not public"
    if not address.is_global:
        return "an address that is not public"
    return None


async def resolve_host(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to (the system resolver, in a thread)."""
    infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def checked_address(
    url: httpx.URL, *, allow_private: bool, resolve: Resolver = resolve_host
) -> IPAddress:
    """The address to connect to for ``url``, after checking every address its host has.

    Raises:
        BadLinkError: the host does not resolve.
        PrivateAddressError: an address is not public (unless ``allow_private``).
    """
    host = url.host
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        found = [literal]
    else:
        try:
            found = [ipaddress.ip_address(a.split("%")[0]) for a in await resolve(host, _port(url))]
        except (OSError, ValueError):
            found = []
        if not found:
            raise BadLinkError(f"The host {host} does not resolve.")
    if not allow_private:
        for address in found:
            reason = address_refusal(address)
            if reason is not None:
                raise PrivateAddressError(f"The link leads to {reason} ({address}); not fetched.")
    return found[0]


def _port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)
