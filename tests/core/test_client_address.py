"""The client address behind reverse proxies: X-Forwarded-For counts only from a trusted proxy."""

import subprocess
import sys

import pytest

from tests.worker import ROOT


@pytest.fixture
def behind_one_proxy(settings):
    settings.NUM_PROXIES = 1
    settings.METRICS_TOKEN = "scrape-token"
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1/32"]


def test_a_client_connecting_directly_cannot_name_its_address(client, behind_one_proxy, db):
    spoofed = client.get("/metrics", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert spoofed.status_code == 403


def test_the_address_a_trusted_proxy_forwards_is_the_clients(client, behind_one_proxy, db):
    via_proxy = client.get("/metrics", REMOTE_ADDR="10.0.0.7", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert via_proxy.status_code == 200
    outside = client.get("/metrics", REMOTE_ADDR="10.0.0.7", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert outside.status_code == 403


def test_a_proxy_seen_through_an_ipv6_socket_is_still_trusted(client, behind_one_proxy, db):
    via_proxy = client.get(
        "/metrics", REMOTE_ADDR="::ffff:10.0.0.7", HTTP_X_FORWARDED_FOR="127.0.0.1"
    )
    assert via_proxy.status_code == 200


def test_a_proxy_on_a_unix_socket_is_trusted(client, behind_one_proxy, db):
    # gunicorn on a Unix socket names no peer address: only a local process can connect.
    via_proxy = client.get("/metrics", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="127.0.0.1")
    assert via_proxy.status_code == 200
    outside = client.get("/metrics", REMOTE_ADDR="", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert outside.status_code == 403


def test_trusted_proxies_are_a_setting(client, behind_one_proxy, settings, db):
    settings.TRUSTED_PROXIES = ["198.51.100.0/24"]
    assert (
        client.get(
            "/metrics", REMOTE_ADDR="198.51.100.20", HTTP_X_FORWARDED_FOR="127.0.0.1"
        ).status_code
        == 200
    )
    assert (
        client.get("/metrics", REMOTE_ADDR="10.0.0.7", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code
        == 403
    )


def test_a_malformed_network_stops_the_start_with_its_name():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "true", "TRUSTED_PROXIES": "10.0.0.0/8,proxy-a"},
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert "TRUSTED_PROXIES: 'proxy-a' does not appear to be an IPv4 or IPv6 network" in (
        result.stderr
    )
