import functools
import ipaddress

from django.conf import settings


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or, behind NUM_PROXIES trusted proxies, the address the
    outermost trusted proxy saw (read from the right of X-Forwarded-For). A client can prepend
    whatever it likes to that header, so it is never read from the left; and it is read only from
    a peer in TRUSTED_PROXIES (or on a Unix socket), so a client connecting directly cannot send
    one at all."""
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.NUM_PROXIES
    if proxies <= 0 or not is_trusted_proxy(remote):
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies]


def client_limit_key(address: str) -> str:
    """What a per-address limit counts: an IPv4 address, or an IPv6 address's /64 — a single host
    is usually handed a whole /64 and picks addresses in it at will."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 4:
        return str(parsed)
    if parsed.ipv4_mapped:
        return str(parsed.ipv4_mapped)
    return str(ipaddress.ip_network(f"{parsed}/64", strict=False))


def is_trusted_proxy(address: str) -> bool:
    """Whether a peer connecting from `address` is one of the TRUSTED_PROXIES. A peer without an
    address, on a Unix socket, is a local process: trusted, as gunicorn trusts it with the
    forwarded headers it reads itself."""
    if address == "":
        return True
    try:
        peer = ipaddress.ip_address(address)
    except ValueError:
        return False
    # A server listening on IPv6 sees an IPv4 proxy as ::ffff:a.b.c.d.
    peer = getattr(peer, "ipv4_mapped", None) or peer
    return any(peer in network for network in _networks(tuple(settings.TRUSTED_PROXIES)))


@functools.cache
def _networks(networks: tuple[str, ...]) -> list:
    return [ipaddress.ip_network(network, strict=False) for network in networks]
