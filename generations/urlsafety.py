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
        if not ipaddress.ip_address(address.split("%")[0]).is_global:
            raise UnsafeUrl(
                "The URL resolves to a private, loopback or otherwise internal address."
            )
    return addresses


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
            if peer and not ipaddress.ip_address(peer[0]).is_global:
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
