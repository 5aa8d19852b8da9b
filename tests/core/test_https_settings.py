"""Production behind TLS: the settings follow PUBLIC_BASE_URL and the proxies in front."""

import os
import subprocess
import sys

from tests.worker import ROOT


def _deploy_check(**env) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=ROOT,
        env={
            # The browser tests allow async-unsafe calls in this process; a deployment never does.
            **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DEBUG": "false",
            "SECRET_KEY": "a-long-production-secret-key-that-is-random-enough-0123456789-abcdef",
            **env,
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def test_an_https_deployment_sends_cookies_over_https_only():
    behind_tls = _deploy_check(PUBLIC_BASE_URL="https://offload.example.com", NUM_PROXIES="1")
    for warning in ["security.W012", "security.W016"]:  # session and CSRF cookies
        assert warning not in behind_tls
    plain = _deploy_check(PUBLIC_BASE_URL="http://127.0.0.1:8000")
    assert "security.W012" in plain and "security.W016" in plain


def test_hsts_and_the_https_redirect_are_settings_and_spare_the_probes(client, settings):
    assert "security.W004" not in _deploy_check(SECURE_HSTS_SECONDS="31536000")
    every_rule = _deploy_check(
        SECURE_HSTS_SECONDS="31536000",
        SECURE_HSTS_INCLUDE_SUBDOMAINS="true",
        SECURE_HSTS_PRELOAD="true",
    )
    assert "security.W005" not in every_rule and "security.W021" not in every_rule
    assert "security.W008" not in _deploy_check(SECURE_SSL_REDIRECT="true")
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/me").status_code == 301


def test_only_a_trusted_proxy_may_say_a_request_came_over_https(client, settings):
    settings.NUM_PROXIES = 1
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600
    said = {"HTTP_X_FORWARDED_PROTO": "https"}
    through_the_proxy = client.get("/api/v1/me", REMOTE_ADDR="127.0.0.1", **said)
    assert through_the_proxy.status_code == 401
    assert through_the_proxy["Strict-Transport-Security"] == "max-age=3600"
    # A proxy on a Unix socket has no address.
    assert client.get("/api/v1/me", REMOTE_ADDR="", **said).status_code == 401
    direct = client.get("/api/v1/me", REMOTE_ADDR="203.0.113.7", **said)
    assert direct.status_code == 301
    assert direct["Location"].startswith("https://")
    assert "Strict-Transport-Security" not in client.get(
        "/healthz", REMOTE_ADDR="203.0.113.7", **said
    )


def test_a_public_base_url_without_a_scheme_stops_the_start():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true", "PUBLIC_BASE_URL": "offload.example.com"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "PUBLIC_BASE_URL must be an absolute http(s) URL." in result.stderr
