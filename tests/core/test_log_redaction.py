"""A share link or a signed view link grants access by itself: no log line may carry one."""

import base64
import copy
import io
import json
import logging
import logging.config
import runpy
import socket
from datetime import timedelta
from types import SimpleNamespace
from urllib.parse import quote

import httpx
import pytest
from django.conf import settings
from gunicorn.config import Config as GunicornConfig

from accounts.services import api_key_create
from core.logging import RedactSecretsFilter
from generations.models import Deck
from generations.signing import view_url
from sharelinks.services import share_link_create
from tests.webserver import running_web
from tests.worker import ROOT


@pytest.mark.django_db(transaction=True)
def test_gunicorns_access_log_leaves_out_share_and_view_tokens(tenant, tmp_path):
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    _, token = share_link_create(tenant=tenant, resource_type="deck", resource_id=str(deck.pk))
    signed = view_url("deck", deck.pk).rsplit("/v/", 1)[1].strip("/")
    access_log = tmp_path / "access.log"
    with running_web(processes=1, extra_args=("--access-logfile", str(access_log))) as base:
        assert httpx.get(f"{base}/s/{token}").status_code == 200
        assert httpx.get(f"{base}/v/{signed}/").status_code == 200
        assert httpx.get(f"{base}/s/unknown-token").status_code == 404
        # Decoded before routing, these open the same pages: the request line keeps them encoded.
        assert httpx.get(f"{base}/s%2F{token}").status_code == 200
        assert httpx.get(f"{base}/%73/{token}").status_code == 200
        assert httpx.get(f"{base}/v%2F{signed}/").status_code == 200
    logged = access_log.read_text()
    assert logged.count('"GET /s/[redacted] HTTP/1.1" 200') == 3
    assert logged.count('"GET /v/[redacted]/ HTTP/1.1" 200') == 2
    assert token not in logged and signed not in logged and "unknown-token" not in logged
    assert "GET /healthz" in logged  # other paths are logged as they are


@pytest.mark.django_db(transaction=True)
def test_a_key_or_link_pasted_into_the_admins_search_is_left_out_of_the_access_log(
    tenant, tmp_path
):
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    _, token = share_link_create(tenant=tenant, resource_type="deck", resource_id=str(deck.pk))
    _, key = api_key_create(tenant=tenant, name="leaked")
    access_log = tmp_path / "access.log"
    with running_web(processes=1, extra_args=("--access-logfile", str(access_log))) as base:
        for searched in [
            f"/admin/sharelinks/publiclink/?q={quote(f'{base}/s/{token}', safe='')}",
            f"/admin/sharelinks/publiclink/?q={token}",
            f"/admin/accounts/apikey/?q={key}",
            f"/admin/accounts/apikey/1/change/?_changelist_filters=q%3D{key}",
            f"/api/v1/me?api_key={key}",
        ]:
            assert httpx.get(f"{base}{searched}").status_code in (302, 401)
    logged = access_log.read_text()
    assert token not in logged and key[12:] not in logged
    assert logged.count("GET /admin/sharelinks/publiclink/?[redacted] HTTP/1.1") == 2
    assert f"GET /api/v1/me?api_key={key[:12]}[redacted] HTTP/1.1" in logged


def test_a_key_sent_as_the_basic_auth_user_is_left_out_of_the_access_log(tmp_path):
    # Stripe's clients send their key as the user of HTTP Basic auth (`curl -u $KEY:`), and the
    # access log's format names that user. gunicorn's own logger, configured by gunicorn.conf.py,
    # writes the line of such a request (refused: the API takes a Bearer or X-Api-Key).
    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    cfg = GunicornConfig()
    cfg.set("accesslog", str(tmp_path / "access.log"))
    cfg.set("access_log_format", conf["access_log_format"])
    key = "ofl_Leaked12abcdefghijklmnopqrstuvwxyz0123456"
    basic = "Basic " + base64.b64encode(f"{key}:".encode()).decode()
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/api/v1/me",
        "PATH_INFO": "/api/v1/me",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_AUTHORIZATION": basic,
    }
    response = SimpleNamespace(status="401 Unauthorized", sent=204, headers=[])
    request = SimpleNamespace(headers=[("AUTHORIZATION", basic)])
    conf["logger_class"](cfg).access(response, request, environ, timedelta(milliseconds=3))
    logged = (tmp_path / "access.log").read_text()
    assert "127.0.0.1 - ofl_Leaked12[redacted] [" in logged
    assert key[12:] not in logged


@pytest.mark.parametrize(
    "text",
    [
        "GET /s%2FabcDEF123_-x HTTP/1.1",
        "GET /s%2fabcDEF123_-x HTTP/1.1",
        "GET /%73/abcDEF123_-x HTTP/1.1",
        "GET /%73%2FabcDEF123_-x?page=2 HTTP/1.1",
        "https://offload.example/%76/abcDEF123_-x/",
        "GET /?next=%2Fs%2FabcDEF123_-x HTTP/1.1",
        "GET /healthz?u=https%3A%2F%2Foffload.example%3A8000%2Fs%2FabcDEF123_-x&a=1 HTTP/1.1",
    ],
)
def test_a_link_with_its_path_percent_encoded_is_left_out_too(text):
    from core.redaction import redact

    redacted = redact(text)
    assert "abcDEF123" not in redacted
    assert "/s/[redacted]" in redacted or "/v/[redacted]" in redacted


@pytest.mark.parametrize(
    "line",
    [
        '"GET /admin/sharelinks/publiclinkevent/?q=http%3A%2F%2Fh%2Fs%2FabcDEF123_-x HTTP/1.1"',
        '"GET /admin/accounts/auditevent/?action=export&q=abcDEF123_-x HTTP/1.1"',
        '"GET /admin/sharelinks/publiclink?q=abcDEF123_-x HTTP/1.1"',
        '"GET /admin/jobs/job/1/change/?_changelist_filters=q%3DabcDEF123_-x HTTP/1.1"',
        '"GET /static/admin/css/base.css HTTP/1.1" 200 "https://h/admin/jobs/job/?q=abcDEF123_-x"',
    ],
)
def test_what_was_searched_in_the_admin_is_left_out(line):
    from core.redaction import redact

    assert "abcDEF123" not in redact(line) and "[redacted]" in redact(line)
    assert redact('"GET /admin/jobs/job/?status__exact=failed HTTP/1.1"') == (
        '"GET /admin/jobs/job/?status__exact=failed HTTP/1.1"'
    )


def test_djangos_request_log_leaves_them_out_too():
    record = logging.LogRecord(
        "django.request", logging.WARNING, __file__, 1, "Not Found: %s", ("/s/abcDEF123_-x",), None
    )
    assert RedactSecretsFilter().filter(record)
    assert record.getMessage() == "Not Found: /s/[redacted]"
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "GET /static/s/app.css", (), None)
    RedactSecretsFilter().filter(record)
    assert record.getMessage() == "GET /static/s/app.css"


def test_runservers_request_log_leaves_them_out():
    logger = logging.getLogger("django.server")
    written = io.StringIO()
    streams = [handler.setStream(written) for handler in logger.handlers]
    try:
        logger.info('"%s" %s %s', "GET /s/abcDEF123_-x HTTP/1.1", 200, 512)
    finally:
        for handler, stream in zip(logger.handlers, streams, strict=True):
            handler.setStream(stream)
    assert logger.handlers and not logger.propagate
    assert '"GET /s/[redacted] HTTP/1.1" 200 512' in written.getvalue()
    assert "abcDEF123" not in written.getvalue()


@pytest.fixture
def json_logs():
    """The root logger writing JSON lines, as production does (LOG_FORMAT=json)."""
    config = copy.deepcopy(settings.LOGGING)
    config["handlers"]["console"]["formatter"] = "json"
    logging.config.dictConfig(config)
    written = io.StringIO()
    previous = logging.getLogger().handlers[0].setStream(written)
    yield written
    logging.getLogger().handlers[0].setStream(previous)
    logging.config.dictConfig(settings.LOGGING)


@pytest.mark.django_db
def test_a_json_log_line_carries_no_token_in_the_request_it_names(client, tenant, json_logs):
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    _, token = share_link_create(
        tenant=tenant, resource_type="deck", resource_id=str(deck.pk), max_views=1
    )
    assert client.get(f"/s/{token}").status_code == 200
    # Used up: Django logs the 404, with the request it names.
    assert client.get(f"/s/{token}").status_code == 404
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    refusal = next(line for line in lines if line["name"] == "django.request")
    assert refusal["request"] == "<WSGIRequest: GET '/s/[redacted]'>"
    assert refusal["status_code"] == 404
    assert token not in json_logs.getvalue()


@pytest.mark.django_db(transaction=True)
def test_a_request_gunicorn_cannot_parse_is_answered_400_and_logged(tmp_path):
    access_log = tmp_path / "access.log"
    with running_web(processes=1, extra_args=("--access-logfile", str(access_log))) as base:
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n")
            assert raw.recv(64).startswith(b"HTTP/1.1 400 Bad Request")
        # The process that answered is still serving.
        assert httpx.get(f"{base}/healthz").status_code == 200
    assert " 400 " in access_log.read_text()


@pytest.mark.django_db
def test_djangos_line_about_a_refused_request_carries_its_request_id(client, json_logs):
    response = client.get(
        "/api/v1/jobs", HTTP_AUTHORIZATION="Bearer wrong", HTTP_X_REQUEST_ID="walk-req-0002"
    )
    assert response.status_code == 401
    lines = [json.loads(line) for line in json_logs.getvalue().splitlines()]
    refusal = next(line for line in lines if line["name"] == "django.request")
    assert (refusal["message"], refusal["request_id"]) == (
        "Unauthorized: /api/v1/jobs",
        "walk-req-0002",
    )


def _handlers_reached(name: str) -> list[logging.Handler]:
    """Every handler a record logged on `name` reaches, as propagation walks up."""
    handlers, logger = [], logging.getLogger(name)
    while logger is not None:
        handlers += logger.handlers
        logger = logger.parent if logger.propagate else None
    return handlers


@pytest.mark.django_db
def test_with_debug_on_djangos_own_console_log_leaves_them_out(client, settings):
    # The embedded default runs with DEBUG on, where Django adds a console handler of its own.
    settings.DEBUG = True
    written = io.StringIO()
    handlers = [h for h in _handlers_reached("django.request") if hasattr(h, "setStream")]
    streams = [handler.setStream(written) for handler in handlers]
    try:
        assert client.get("/s/leakedTOKEN_abcdefghijklmnopqrstuvwxyz0123").status_code == 404
    finally:
        for handler, stream in zip(handlers, streams, strict=True):
            handler.setStream(stream)
    assert "Not Found: /s/[redacted]" in written.getvalue()
    assert "leakedTOKEN" not in written.getvalue()
