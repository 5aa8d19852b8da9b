"""Fetching a user-supplied image URL without letting it reach inside our network."""

import ipaddress
import logging
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as LookupTimeout
from urllib.parse import urlsplit
from urllib.request import getproxies_environment, proxy_bypass_environment

import httpcore
import httpx
from django.conf import settings

from jobs.errors import PermanentError, RetryableError

logger = logging.getLogger(__name__)

MAX_REDIRECTS = 5
# A failed fetch says no more than this, whatever the cause; the log has it.
SOURCE_NOT_FETCHED = "The source image could not be fetched."
# One answer for a name that does not resolve and one that resolves inside our network: were they
# told apart, a workspace could map the internal names (`postgres`, `redis`) by trying them.
NOT_PUBLIC = "The URL's host does not resolve to a public address."


class UnsafeUrl(ValueError):
    """A URL refused; its message is for the client, `reason` (for the log) may say more."""

    def __init__(self, message: str, *, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


class Unresolved(UnsafeUrl):
    """The host's name did not resolve: refused at submit, but perhaps only for a moment."""


class Internal(UnsafeUrl):
    """The host's name resolves to an address inside our network (or none routable)."""


class LookupLate(Exception):
    """The host's name had not resolved by the deadline (a name server slow to answer)."""


def public_addresses(url: str) -> list[str]:
    """The addresses an https URL resolves to, in the resolver's order, all of them public;
    UnsafeUrl otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise UnsafeUrl("Only https URLs are accepted.")
    if parts.username or parts.password:
        raise UnsafeUrl("URLs with credentials are not accepted.")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or 443, proto=socket.IPPROTO_TCP)
    except socket.gaierror as exc:
        raise Unresolved(NOT_PUBLIC, reason=f"{parts.hostname} does not resolve: {exc}") from exc
    except (ValueError, UnicodeError) as exc:  # a port out of range, a host IDNA cannot encode
        raise UnsafeUrl(f"The URL is malformed: {exc}") from exc
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        if not address_is_public(address):
            raise Internal(
                NOT_PUBLIC, reason=f"{parts.hostname} resolves to {address}, not a public address"
            )
    return addresses


# IPv6 ranges that carry an IPv4 address the network may route to: IPv4-compatible (deprecated),
# IPv4-translated (SIIT), NAT64 and 6to4. Python's is_global does not look inside them
# (::127.0.0.1 counts as global).
_IPV4_CARRYING = [
    ipaddress.ip_network("::/96"),
    ipaddress.ip_network("::ffff:0:0:0/96"),
    ipaddress.ip_network("64:ff9b::/96"),
    ipaddress.ip_network("64:ff9b:1::/48"),
    ipaddress.ip_network("2002::/16"),
]


def address_is_public(address: str) -> bool:
    """Whether an address is globally routable, looking through the IPv6 forms that embed an IPv4
    address."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if ip.is_multicast:
        return False
    if ip.version == 6:
        if ip.ipv4_mapped is not None:
            return address_is_public(str(ip.ipv4_mapped))
        if ip.is_site_local or any(ip in network for network in _IPV4_CARRYING):
            return False
    return ip.is_global


def image_fetch(url: str) -> bytes:
    """GET an image from a public https URL: at most MAX_REDIRECTS redirects, every hop checked
    like the first, a size cap, and GENERATION_HTTP_TIMEOUT for the whole of it (a site sending
    its image a byte at a time cannot hold the worker longer). A network failure reaches the job
    as one generic message, whatever the cause (an open port and a closed one must look alike);
    the log has it.

    The environment is not trusted (trust_env=False): a proxy from HTTPS_PROXY would connect on
    the worker's behalf, and its tunnel to the pinned address carries no SNI, so the site's
    certificate could not be verified against its name."""
    timeout = settings.GENERATION_HTTP_TIMEOUT
    # A read timeout bounds each read, not the whole: every look-up, connect, read and write of
    # the fetch is given only the time left before its deadline.
    deadline = time.monotonic() + timeout
    transport = DeadlineTransport(verify=source_tls_context(), deadline=deadline)
    try:
        with httpx.Client(timeout=timeout, trust_env=False, transport=transport) as client:
            return _image_follow(client, url, deadline)
    except httpx.TimeoutException as exc:
        logger.warning("The source image at %s timed out: %r", _where(exc), exc)
        raise RetryableError("SOURCE_TIMEOUT", "The source image timed out.") from exc
    except httpx.HTTPError as exc:
        logger.warning("The source image at %s could not be fetched: %r", _where(exc), exc)
        raise RetryableError("SOURCE_UNAVAILABLE", SOURCE_NOT_FETCHED) from exc


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's transport, its connections ending every read and write by one deadline (httpx's
    own timeouts bound each read, so a server sending a byte at a time could hold a call for
    ever), directly or through an http(s) `proxy`. httpx takes no network backend of its own
    choosing, so its pool is made again with one."""

    def __init__(self, *, verify: ssl.SSLContext, deadline: float, proxy: str | None = None):
        super().__init__(verify=verify, trust_env=False)
        backend = _DeadlineBackend(deadline)
        if proxy is None:
            self._pool = httpcore.ConnectionPool(ssl_context=verify, network_backend=backend)
            return
        proxy = httpx.Proxy(proxy)
        self._pool = httpcore.HTTPProxy(
            proxy_url=httpcore.URL(
                scheme=proxy.url.raw_scheme,
                host=proxy.url.raw_host,
                port=proxy.url.port,
                target=proxy.url.raw_path,
            ),
            proxy_auth=proxy.raw_auth,
            proxy_headers=proxy.headers.raw,
            ssl_context=verify,
            network_backend=backend,
        )


def environment_proxy(url: str) -> str | None:
    """The http(s) proxy the environment names for `url`, as httpx's defaults read it:
    HTTPS_PROXY or HTTP_PROXY by its scheme, else ALL_PROXY (`host:port` taken as http://); none
    for a host, or host and port, that NO_PROXY names."""
    parts = urlsplit(url)
    if not parts.hostname or proxy_bypass_environment(parts.hostname):
        return None
    if parts.port and proxy_bypass_environment(f"{parts.hostname}:{parts.port}"):
        return None
    proxies = getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy:
        return None
    proxy = proxy if "://" in proxy else f"http://{proxy}"
    return proxy if proxy.startswith(("http://", "https://")) else None


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self, deadline: float):
        self.deadline = deadline
        self.backend = httpcore.SyncBackend()

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        timeout = _time_left(timeout, self.deadline, httpcore.ConnectTimeout)
        stream = self.backend.connect_tcp(host, port, timeout, local_address, socket_options)
        return _DeadlineStream(stream, self.deadline)

    def sleep(self, seconds: float) -> None:
        self.backend.sleep(seconds)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, deadline: float):
        self.stream = stream
        self.deadline = deadline

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        timeout = _time_left(timeout, self.deadline, httpcore.ReadTimeout)
        return self.stream.read(max_bytes, timeout)

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, _time_left(timeout, self.deadline, httpcore.WriteTimeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        try:
            timeout = _time_left(timeout, self.deadline, httpcore.ConnectTimeout)
        except httpcore.ConnectTimeout:
            # As a failed handshake does: the connection is closed, not left to the collector.
            self.stream.close()
            raise
        stream = self.stream.start_tls(ssl_context, server_hostname, timeout)
        return _DeadlineStream(stream, self.deadline)

    def get_extra_info(self, info: str):
        return self.stream.get_extra_info(info)


def _time_left(timeout: float | None, deadline: float, late: type[httpcore.TimeoutException]):
    """The seconds an operation may take: its own timeout, cut to what is left before the
    deadline; `late` raised once that has passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise late("The whole fetch took longer than allowed.")
    return left if timeout is None else min(timeout, left)


def source_tls_context() -> ssl.SSLContext:
    """The authorities a source's certificate must chain to: httpx's default bundle (certifi's),
    SSL_CERT_FILE and SSL_CERT_DIR not read, like the rest of the environment."""
    return httpx.create_ssl_context(trust_env=False)


def _image_follow(client: httpx.Client, url: str, deadline: float) -> bytes:
    for _ in range(MAX_REDIRECTS + 1):
        response = _pinned_send(client, url, deadline)
        try:
            if not response.has_redirect_location:
                return _image_read(response)
            url = _redirect_target(url, response.headers["Location"])
        finally:
            response.close()
    raise PermanentError(
        "INVALID_SOURCE", f"The source image redirects more than {MAX_REDIRECTS} times."
    )


def _pinned_send(client: httpx.Client, url: str, deadline: float) -> httpx.Response:
    """Send the GET to an address checked just now, never to whatever a second look-up answers
    (a TTL-0 DNS name can answer public to the check and internal to the connection). The URL's
    host still names the site: it is the Host header, the TLS SNI and the name the certificate is
    verified against. When one address cannot be connected to, the next checked one is tried."""
    try:
        addresses = public_addresses_by(url, deadline)
    except LookupLate as exc:
        raise httpx.ConnectTimeout(str(exc)) from None
    except Unresolved as exc:
        logger.warning("The source image host could not be resolved: %s", exc.reason)
        raise RetryableError("SOURCE_UNAVAILABLE", SOURCE_NOT_FETCHED) from exc
    except Internal as exc:
        logger.warning("The source image host is not public: %s", exc.reason)
        # Worded as a name that does not resolve is (see NOT_PUBLIC); that one is retried.
        raise PermanentError("INVALID_SOURCE", SOURCE_NOT_FETCHED) from exc
    except UnsafeUrl as exc:
        raise PermanentError("INVALID_SOURCE", str(exc)) from exc
    target = httpx.URL(url)
    for address in addresses[:-1]:
        try:
            return client.send(_pinned_request(client, target, address), stream=True)
        except httpx.ConnectError as exc:
            logger.info("The source image host %s failed at %s: %r", target.host, address, exc)
    return client.send(_pinned_request(client, target, addresses[-1]), stream=True)


def public_addresses_by(url: str, deadline: float) -> list[str]:
    """public_addresses, given up on at the deadline (LookupLate). The look-up is left to finish
    in a thread of its own: unlike a connection's reads, it holds nothing of ours."""
    lookup = ThreadPoolExecutor(max_workers=1, thread_name_prefix="image-source-lookup")
    try:
        future = lookup.submit(public_addresses, url)
        return future.result(timeout=max(deadline - time.monotonic(), 0))
    except LookupTimeout:
        raise LookupLate("The source's name did not resolve in time.") from None
    finally:
        lookup.shutdown(wait=False)


def _pinned_request(client: httpx.Client, target: httpx.URL, address: str) -> httpx.Request:
    return client.build_request(
        "GET",
        target.copy_with(host=address),
        # An encoded answer would be decoded whole before the size cap could count it.
        headers={"Host": target.netloc.decode("ascii"), "Accept-Encoding": "identity"},
        extensions={"sni_hostname": target.raw_host.decode("ascii")},
    )


def _image_read(response: httpx.Response) -> bytes:
    status = response.status_code
    if status == 429 or status >= 500:
        raise RetryableError("SOURCE_UNAVAILABLE", f"The source image answered {status}.")
    if status != 200:
        raise PermanentError("INVALID_SOURCE", f"The source image answered {status}.")
    encoding = response.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise PermanentError(
            "INVALID_SOURCE",
            f"The source image was sent encoded ({encoding}); only an unencoded image is accepted.",
        )
    limit = settings.GENERATION_IMAGE_MAX_BYTES
    body = bytearray()
    for chunk in response.iter_raw():
        body += chunk
        if len(body) > limit:
            raise PermanentError(
                "INVALID_SOURCE", f"The source image is larger than {limit} bytes."
            )
    return bytes(body)


def _redirect_target(url: str, location: str) -> str:
    try:
        return str(httpx.URL(url).join(location))
    except httpx.InvalidURL as exc:
        raise PermanentError(
            "INVALID_SOURCE", "The source image redirects to a malformed URL."
        ) from exc


def _where(exc: httpx.HTTPError) -> str:
    """The host and the address of the request that failed, not its path and query: they may
    hold a presigned token."""
    try:
        request = exc.request
    except RuntimeError:  # an error raised outside any request
        return "?"
    return f"{request.headers['Host']} ({request.url.host})"
