"""Fetching a user-supplied image URL without letting it reach inside our network."""

import ipaddress
import socket
from urllib.parse import urlsplit

import httpx
from django.conf import settings

from jobs.errors import PermanentError, RetryableError


class UnsafeUrl(ValueError):
    pass


def public_addresses(url: str) -> list[str]:
    """The addresses an https URL resolves to, all of them public; UnsafeUrl otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise UnsafeUrl("Only https URLs are accepted.")
    if parts.username or parts.password:
        raise UnsafeUrl("URLs with credentials are not accepted.")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise UnsafeUrl(f"The host {parts.hostname} does not resolve.") from exc
    except (ValueError, UnicodeError) as exc:  # a port out of range, a host IDNA cannot encode
        raise UnsafeUrl(f"The URL is malformed: {exc}") from exc
    addresses = sorted({info[4][0] for info in infos})
    for address in addresses:
        if not address_is_public(address):
            raise UnsafeUrl(
                "The URL resolves to a private, loopback or otherwise internal address."
            )
    return addresses


# IPv6 ranges that carry an IPv4 address the network may route to: IPv4-compatible (deprecated),
# NAT64 and 6to4. Python's is_global does not look inside them (::127.0.0.1 counts as global).
_IPV4_CARRYING = [
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("2002::/16"),
]


def address_is_public(address: str) -> bool:
    """Whether an address (a resolved host, or the peer connected to) is globally routable, looking
    through the IPv6 forms that embed an IPv4 address."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped.is_global
        if any(ip in network for network in _IPV4_CARRYING):
            return False
    return ip.is_global


def image_fetch(url: str) -> bytes:
    """GET an image from a public https URL: checked before connecting and again against the peer
    actually connected to (DNS can change in between), no redirects, a size cap and a timeout."""
    try:
        public_addresses(url)
    except UnsafeUrl as exc:
        raise PermanentError("INVALID_SOURCE", str(exc)) from exc
    limit = settings.GENERATION_IMAGE_MAX_BYTES
    try:
        with httpx.stream(
            "GET", url, timeout=settings.GENERATION_HTTP_TIMEOUT, follow_redirects=False
        ) as response:
            peer = response.extensions["network_stream"].get_extra_info("server_addr")
            if peer and not address_is_public(peer[0]):
                raise PermanentError(
                    "INVALID_SOURCE", "The URL now resolves to an internal address."
                )
            if response.status_code != 200:
                raise PermanentError(
                    "INVALID_SOURCE", f"The source image answered {response.status_code}."
                )
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > limit:
                    raise PermanentError(
                        "INVALID_SOURCE", f"The source image is larger than {limit} bytes."
                    )
            return bytes(body)
    except httpx.TimeoutException as exc:
        raise RetryableError("SOURCE_TIMEOUT", f"The source image timed out: {exc}") from exc
    except httpx.HTTPError as exc:
        raise RetryableError(
            "SOURCE_UNAVAILABLE", f"The source image could not be fetched: {exc}"
        ) from exc
