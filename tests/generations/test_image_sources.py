"""An image_edit source URL is fetched only from addresses checked to be public, on every hop."""

import dataclasses
import gzip
import io
import logging
import socket
import ssl
import threading
import time

import pytest
from PIL import Image

from generations import services as generation_services
from generations import urlsafety
from generations.urlsafety import MAX_REDIRECTS, image_fetch
from jobs.errors import JobError, PermanentError, RetryableError
from jobs.models import Job
from jobs.services import job_execute
from tests.generations.fake_sites import (
    OTHER_PUBLIC,
    PUBLIC,
    FakeNetwork,
    HttpsSite,
    InternalService,
    certificates_make,
)
from tests.generations.png_headers import png_claiming
from tests.worker import READY_TIMEOUT


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 90, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


FOX = _png()


@pytest.fixture(scope="session")
def certificates(tmp_path_factory):
    return certificates_make(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def site(certificates, monkeypatch):
    monkeypatch.setattr(
        urlsafety,
        "source_tls_context",
        lambda: ssl.create_default_context(cafile=certificates["ca"]),
    )
    site = HttpsSite(certificates)
    site.pages["/fox.png"] = (200, {"Content-Type": "image/png"}, FOX)
    yield site
    site.close()


@pytest.fixture
def internal():
    service = InternalService()
    yield service
    service.close()


@pytest.fixture
def network(monkeypatch, site):
    network = FakeNetwork(socket.getaddrinfo, socket.create_connection)
    network.routes = {PUBLIC: site.port, OTHER_PUBLIC: site.port}
    monkeypatch.setattr(socket, "getaddrinfo", network.getaddrinfo)
    monkeypatch.setattr(socket, "create_connection", network.create_connection)
    return network


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        return listener.getsockname()[1]


def _image_edit(api_client, source_url: str) -> dict:
    response = api_client.post(
        "/api/v1/generations",
        {"kind": "image_edit", "prompt": "a hat", "source_url": source_url},
        format="json",
    )
    assert response.status_code == 202, response.json()
    job_execute(job_id=response.json()["id"], type_name="image_edit")
    return api_client.get(f"/api/v1/generations/{response.json()['id']}").json()


def test_a_poll_while_the_source_is_fetched_says_so(api_client, site, network, monkeypatch):
    network.names["img.example"] = [PUBLIC]
    polled = []

    def fetch_polled(url):
        polled.append(api_client.get(f"/api/v1/generations/{job_id}").json())
        return image_fetch(url)

    monkeypatch.setattr(generation_services, "image_fetch", fetch_polled)
    response = api_client.post(
        "/api/v1/generations",
        {"kind": "image_edit", "prompt": "a hat", "source_url": "https://img.example/fox.png"},
        format="json",
    )
    job_id = response.json()["id"]
    job_execute(job_id=job_id, type_name="image_edit")
    assert [(poll["progress"], poll["message"]) for poll in polled] == [
        (5, "fetching the source image")
    ]


def test_a_cmyk_jpeg_from_a_print_workflow_is_edited(api_client, site, network):
    buffer = io.BytesIO()
    Image.new("CMYK", (32, 24), (0, 120, 200, 10)).save(buffer, format="JPEG")
    site.pages["/print.jpg"] = (200, {"Content-Type": "image/jpeg"}, buffer.getvalue())
    network.names["img.example"] = [PUBLIC]
    generation = _image_edit(api_client, "https://img.example/print.jpg")
    assert generation["status"] == "completed", generation["error"]


def test_a_host_that_rebinds_to_an_internal_address_is_fetched_from_the_address_checked(
    api_client, site, internal, network
):
    # Public to the submit check and to the fetch's check, internal to any look-up after them.
    network.names["img.example"] = [PUBLIC, PUBLIC, "127.0.0.1"]
    generation = _image_edit(api_client, f"https://img.example:{internal.port}/fox.png")
    assert generation["status"] == "completed", generation["error"]
    assert internal.connections == 0
    assert network.lookups == ["img.example", "img.example"]
    assert site.server_names == ["img.example"]
    assert site.hosts == [f"img.example:{internal.port}"]


@pytest.mark.parametrize(
    ("answering", "detail"), [("a closed port", "refused"), ("a plain TCP service", "SSL")]
)
def test_a_network_failure_shows_one_message_whatever_answered(
    api_client, network, internal, caplog, answering, detail
):
    network.names["img.example"] = [PUBLIC]
    network.routes[PUBLIC] = internal.port if answering == "a plain TCP service" else _closed_port()
    with caplog.at_level(logging.WARNING, logger="generations.urlsafety"):
        generation = _image_edit(api_client, "https://img.example/fox.png")
    assert generation["error"] == {
        "code": "SOURCE_UNAVAILABLE",
        "message": "The source image could not be fetched.",
    }
    assert "img.example" in caplog.text and detail in caplog.text


def test_a_site_whose_certificate_names_other_hosts_is_not_trusted(network, caplog):
    network.names["elsewhere.example"] = [PUBLIC]
    with pytest.raises(RetryableError) as raised:
        image_fetch("https://elsewhere.example/fox.png")
    assert raised.value.code == "SOURCE_UNAVAILABLE"
    assert "CERTIFICATE_VERIFY_FAILED" in caplog.text


def test_a_redirect_is_followed_to_a_host_checked_and_pinned_like_the_first(site, network):
    network.names["img.example"] = [PUBLIC]
    network.names["cdn.example"] = [OTHER_PUBLIC, "127.0.0.1"]
    site.pages["/old.png"] = (301, {"Location": "https://cdn.example/fox.png"}, b"")
    assert image_fetch("https://img.example/old.png") == FOX
    assert site.server_names == ["img.example", "cdn.example"]
    assert site.hosts == ["img.example", "cdn.example"]


@pytest.mark.parametrize(
    "location",
    [
        "https://inside.example:{port}/fox.png",
        "https://127.0.0.1:{port}/fox.png",
        "https://[::ffff:127.0.0.1]:{port}/fox.png",
        "http://img.example/fox.png",
        "https://user:secret@img.example/fox.png",
    ],
)
def test_a_redirect_to_an_address_a_source_url_may_not_have_is_refused(
    site, network, internal, location
):
    network.names["img.example"] = [PUBLIC]
    network.names["inside.example"] = ["127.0.0.1"]
    site.pages["/old.png"] = (302, {"Location": location.format(port=internal.port)}, b"")
    with pytest.raises(PermanentError) as raised:
        image_fetch("https://img.example/old.png")
    assert raised.value.code == "INVALID_SOURCE"
    assert internal.connections == 0
    assert site.hosts == ["img.example"]


def test_a_name_that_does_not_resolve_is_answered_as_one_that_resolves_inside_at_submit(
    api_client, network, caplog
):
    # As a cluster names its services: a workspace must not learn which exist.
    network.names["postgres.default.svc.cluster.local"] = ["10.96.0.12"]
    network.names["nosuch.default.svc.cluster.local"] = [None]
    with caplog.at_level(logging.INFO, logger="generations.services"):
        internal, unknown = (
            api_client.post(
                "/api/v1/generations",
                {
                    "kind": "image_edit",
                    "prompt": "a hat",
                    "source_url": f"https://{host}.default.svc.cluster.local/x.png",
                },
                format="json",
            )
            for host in ("postgres", "nosuch")
        )
    answers = [
        (response.status_code, {key: response.json()[key] for key in ("code", "detail", "errors")})
        for response in (internal, unknown)
    ]
    assert answers[0] == answers[1]
    assert answers[0] == (
        400,
        {
            "code": "INVALID_REQUEST",
            "detail": "The request has invalid fields.",
            "errors": {"source_url": ["The URL's host does not resolve to a public address."]},
        },
    )
    assert "postgres.default.svc.cluster.local resolves to 10.96.0.12, not a public" in caplog.text
    assert "nosuch.default.svc.cluster.local does not resolve" in caplog.text
    assert not Job.objects.exists()


def test_a_redirect_to_a_name_that_does_not_resolve_fails_as_one_to_inside_but_is_retried(
    api_client, site, network, internal, caplog
):
    network.names["img.example"] = [PUBLIC]
    network.names["postgres"] = ["127.0.0.1"]
    network.names["nosuchservice"] = [None]
    site.pages["/inside.png"] = (302, {"Location": f"https://postgres:{internal.port}/"}, b"")
    site.pages["/unknown.png"] = (302, {"Location": "https://nosuchservice/x.png"}, b"")

    with caplog.at_level(logging.WARNING, logger="generations.urlsafety"):
        inside = _image_edit(api_client, "https://img.example/inside.png")
        unknown = _image_edit(api_client, "https://img.example/unknown.png")

    assert inside["error"]["message"] == unknown["error"]["message"]
    assert inside["error"]["message"] == "The source image could not be fetched."
    # Only a name that may resolve later is tried again.
    assert (inside["status"], inside["error"]["code"]) == ("failed", "INVALID_SOURCE")
    assert (unknown["status"], unknown["error"]["code"]) == ("pending", "SOURCE_UNAVAILABLE")
    assert internal.connections == 0
    assert "postgres resolves to 127.0.0.1, not a public address" in caplog.text
    assert "nosuchservice does not resolve" in caplog.text


def test_a_source_that_keeps_redirecting_is_refused(site, network):
    network.names["img.example"] = [PUBLIC]
    site.pages["/loop.png"] = (302, {"Location": "/loop.png"}, b"")
    with pytest.raises(PermanentError, match=f"more than {MAX_REDIRECTS} times"):
        image_fetch("https://img.example/loop.png")
    assert len(site.hosts) == MAX_REDIRECTS + 1


def test_a_host_with_one_internal_address_among_public_ones_is_refused(network, internal):
    network.names["img.example"] = [(PUBLIC, "10.1.2.3")]
    with pytest.raises(PermanentError) as raised:
        image_fetch("https://img.example/fox.png")
    assert raised.value.code == "INVALID_SOURCE"


def test_the_next_checked_address_is_tried_when_one_cannot_be_reached(site, network):
    network.names["img.example"] = [(OTHER_PUBLIC, PUBLIC)]
    network.routes[OTHER_PUBLIC] = _closed_port()
    assert image_fetch("https://img.example/fox.png") == FOX


@pytest.mark.parametrize("dripped", ["headers", "image"])
def test_a_source_sent_a_byte_at_a_time_times_out_within_the_http_timeout(
    site, network, settings, dripped
):
    settings.GENERATION_HTTP_TIMEOUT = 1
    network.names["img.example"] = [PUBLIC]
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(FOX)}\r\nX-Pad: {'a' * 40}\r\n\r\n"
    whole = head.encode() + FOX
    slow_from = len(head) if dripped == "image" else 0
    given_up, sent_all = threading.Event(), threading.Event()

    def drip(handler):
        # Each byte well within the timeout of one read: 16 seconds or more in all.
        handler.wfile.write(whole[:slow_from])
        for byte in whole[slow_from:]:
            if given_up.is_set():
                return
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            time.sleep(0.1)
        sent_all.set()

    site.httpd.RequestHandlerClass.do_GET = drip
    try:
        with pytest.raises(RetryableError) as raised:
            image_fetch("https://img.example/fox.png")
        # The worker is let go at the timeout, not when the site has finished sending.
        assert not sent_all.is_set()
    finally:
        given_up.set()
    assert (raised.value.code, raised.value.message) == (
        "SOURCE_TIMEOUT",
        "The source image timed out.",
    )


def test_a_fetch_given_up_on_leaves_nothing_reading_behind_it(site, network, settings):
    # A fetch let go at its deadline must not go on reading from its connection's file number:
    # the next socket the worker opens (the next fetch here, its database in production) gets it.
    settings.GENERATION_HTTP_TIMEOUT = 1
    network.names["img.example"] = [PUBLIC]
    serve = site.httpd.RequestHandlerClass.do_GET

    def drip_the_slow_one(handler):
        if handler.path != "/slow.png":
            return serve(handler)
        handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
        for _ in range(40):
            handler.wfile.write(b"X-Pad: a\r\n")
            handler.wfile.flush()
            time.sleep(0.1)
        return None

    site.httpd.RequestHandlerClass.do_GET = drip_the_slow_one
    with pytest.raises(RetryableError):
        image_fetch("https://img.example/slow.png")
    for _ in range(5):
        assert image_fetch("https://img.example/fox.png") == FOX


def test_a_name_slow_to_resolve_times_out_within_the_http_timeout(
    site, network, settings, monkeypatch
):
    settings.GENERATION_HTTP_TIMEOUT = 1
    network.names["img.example"] = [PUBLIC]
    lookup = _slow_first_lookup(network, monkeypatch)
    try:
        with pytest.raises(RetryableError) as raised:
            image_fetch("https://img.example/fox.png")
        # Let go at the timeout, while the name server had still not answered.
        assert not lookup.answered.is_set()
    finally:
        lookup.release.set()
    assert raised.value.code == "SOURCE_TIMEOUT"


@dataclasses.dataclass
class SlowLookup:
    release: threading.Event = dataclasses.field(default_factory=threading.Event)
    answered: threading.Event = dataclasses.field(default_factory=threading.Event)


def _slow_first_lookup(network, monkeypatch) -> SlowLookup:
    """The first look-up of a name takes its answer and gives it only once the test sets
    `release` (or after READY_TIMEOUT), as a name server slow to answer does, then sets
    `answered`; later ones answer at once, with the next answers."""
    lookup, slowed = SlowLookup(), []

    def resolver(host, *args, **kwargs):
        answer = network.getaddrinfo(host, *args, **kwargs)
        if host in network.names and not slowed:
            slowed.append(host)
            lookup.release.wait(READY_TIMEOUT)
            lookup.answered.set()
        return answer

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    return lookup


@pytest.mark.parametrize(
    ("worker_answer", "status", "error_code"),
    [(PUBLIC, "completed", None), ("127.0.0.1", "failed", "INVALID_SOURCE")],
)
def test_a_name_slow_to_resolve_at_submit_is_accepted_and_checked_by_the_worker(
    api_client, site, internal, network, monkeypatch, worker_answer, status, error_code
):
    network.names["img.example"] = [PUBLIC, worker_answer]
    lookup = _slow_first_lookup(network, monkeypatch)
    try:
        response = api_client.post(
            "/api/v1/generations",
            {"kind": "image_edit", "prompt": "a hat", "source_url": "https://img.example/fox.png"},
            format="json",
        )
        # Answered while the name server had still not answered the submit's look-up.
        assert not lookup.answered.is_set()
    finally:
        lookup.release.set()
    assert response.status_code == 202, response.json()
    job_execute(job_id=response.json()["id"], type_name="image_edit")
    generation = api_client.get(f"/api/v1/generations/{response.json()['id']}").json()
    assert (generation["status"], generation["error"] and generation["error"]["code"]) == (
        status,
        error_code,
    )
    assert internal.connections == 0


def test_a_host_that_does_not_resolve_for_a_moment_is_retried(site, network, monkeypatch):
    def resolver_down(host, port, *args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", resolver_down)
    with pytest.raises(RetryableError) as raised:
        image_fetch("https://img.example/fox.png")
    assert raised.value.code == "SOURCE_UNAVAILABLE"


@pytest.mark.parametrize(("status", "retried"), [(503, True), (429, True), (404, False)])
def test_a_source_answering_an_error_is_retried_only_when_it_may_pass(
    site, network, status, retried
):
    network.names["img.example"] = [PUBLIC]
    site.pages["/busy.png"] = (status, {}, b"")
    with pytest.raises(JobError) as raised:
        image_fetch("https://img.example/busy.png")
    assert raised.value.retryable is retried
    assert raised.value.message == f"The source image answered {status}."


def test_a_source_larger_than_the_limit_is_refused(site, network, settings):
    settings.GENERATION_IMAGE_MAX_BYTES = 100
    network.names["img.example"] = [PUBLIC]
    with pytest.raises(PermanentError, match="larger than 100 bytes"):
        image_fetch("https://img.example/fox.png")


def test_a_compressed_answer_is_refused_before_it_is_decoded(site, network, settings):
    # A few KB of gzip or brotli can decode to gigabytes: only what arrived is counted.
    settings.GENERATION_IMAGE_MAX_BYTES = 1000
    network.names["img.example"] = [PUBLIC]
    zeros = gzip.compress(bytes(1024 * 1024))
    site.pages["/zeros.png"] = (
        200,
        {"Content-Type": "image/png", "Content-Encoding": "gzip"},
        zeros,
    )
    with pytest.raises(PermanentError, match=r"sent encoded \(gzip\)") as raised:
        image_fetch("https://img.example/zeros.png")
    assert raised.value.code == "INVALID_SOURCE"
    assert site.accept_encodings == ["identity"]


def test_a_proxy_in_the_environment_is_not_used(site, network, internal, monkeypatch):
    # The fetch connects to the address it checked itself; a proxy's tunnel would carry no SNI.
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{internal.port}")
    network.names["img.example"] = [PUBLIC]
    assert image_fetch("https://img.example/fox.png") == FOX
    assert internal.connections == 0
    assert site.server_names == ["img.example"]


@pytest.mark.parametrize("size", [(5_000, 4_000), (20_000, 20_000)])
def test_a_source_of_more_pixels_than_the_limit_is_refused_without_being_decoded(
    api_client, site, network, size
):
    # 20,000² is past Pillow's own limit, which it enforces with an error of its own.
    network.names["img.example"] = [PUBLIC]
    site.pages["/huge.png"] = (200, {"Content-Type": "image/png"}, png_claiming(*size))
    generation = _image_edit(api_client, "https://img.example/huge.png")
    assert generation["status"] == "failed"
    assert generation["error"]["code"] == "INVALID_SOURCE"
    assert "too large" in generation["error"]["message"]


def test_the_pixel_limit_is_a_setting(api_client, site, network, settings):
    settings.GENERATION_IMAGE_MAX_PIXELS = 64 * 64 - 1
    network.names["img.example"] = [PUBLIC]
    generation = _image_edit(api_client, "https://img.example/fox.png")
    assert generation["error"] == {
        "code": "INVALID_SOURCE",
        "message": "The source image is too large: the image is 64×64 pixels, more than 4,095.",
    }
