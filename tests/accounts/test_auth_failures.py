"""Failed API authentications are limited per client address: keys cannot be tried at will."""

import psycopg
import pytest
from django.db import connection
from rest_framework.test import APIClient

from accounts import authentication
from accounts.models import ApiKey
from core.models import RateLimitBucket
from core.redis import get_redis
from tests.concurrency import at_once
from tests.factories import api_key_for

ATTACKER, NEIGHBOUR = "203.0.113.7", "198.51.100.9"


@pytest.fixture(autouse=True)
def _three_failures_a_minute(settings):
    settings.RATE_LIMIT_AUTH_FAILURES_PER_MINUTE = 3


def _me(key=None, address=ATTACKER, **headers):
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Bearer {key}"
    return APIClient().get("/api/v1/me", REMOTE_ADDR=address, **headers)


def _assert_refused_for_failures(response):
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "RATE_LIMITED"
    assert "failed authentications" in response.json()["detail"]
    assert 1 <= int(response["Retry-After"]) <= 60
    assert response["RateLimit-Policy"] == '"auth-failures";q=3;w=60'


def test_an_address_that_failed_too_often_is_refused_without_its_keys_being_looked_up(tenant):
    # A request without credentials tries no key: it is no failure.
    for _ in range(5):
        assert _me().status_code == 401
    for _ in range(3):
        assert _me("ofl_notarealkey").status_code == 401
    _assert_refused_for_failures(_me("ofl_notarealkey"))
    key = api_key_for(tenant, name="tried next")
    _assert_refused_for_failures(_me(key))
    assert ApiKey.objects.get(name="tried next").last_used_at is None


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_AUTHORIZATION": "Basic dXNlcjpwYXNz"},
        {"HTTP_AUTHORIZATION": "Bearer"},
        {"HTTP_X_API_KEY": "not-a-key"},
        {"HTTP_AUTHORIZATION": "Bearer ofl_one", "HTTP_X_API_KEY": "ofl_two"},
    ],
)
def test_every_kind_of_failed_authentication_counts(db, headers):
    for _ in range(3):
        assert _me(**headers).status_code == 401
    _assert_refused_for_failures(_me(**headers))


@pytest.mark.parametrize("backend", ["redis", "database"])
def test_successful_authentications_spend_nothing(tenant, settings, backend):
    if backend == "database":
        settings.REDIS_URL = ""
    # Each key new, so each is looked up (counted as a failure until found valid).
    for number in range(5):
        response = _me(api_key_for(tenant, name=f"key {number}"))
        assert response.status_code == 200
        assert response["RateLimit-Policy"].startswith('"reads"')
    for _ in range(3):
        assert _me("ofl_notarealkey").status_code == 401
    _assert_refused_for_failures(_me("ofl_notarealkey"))


def test_on_the_database_a_successful_authentication_writes_nothing_of_its_address(
    tenant, settings
):
    # The embedded default: no Redis, no key cache, every key looked up.
    settings.REDIS_URL, settings.API_KEY_CACHE_SECONDS = "", 0
    assert _me("ofl_notarealkey").status_code == 401
    failures = RateLimitBucket.objects.get(key=f"auth-failures:{ATTACKER}")
    assert _me(api_key_for(tenant)).status_code == 200
    assert RateLimitBucket.objects.get(pk=failures.pk).updated_at == failures.updated_at
    for _ in range(2):
        assert _me("ofl_notarealkey").status_code == 401
    _assert_refused_for_failures(_me("ofl_notarealkey"))


def test_other_addresses_are_not_refused(tenant, settings):
    settings.NUM_PROXIES = 1
    key = api_key_for(tenant)
    behind_the_proxy = {"address": "127.0.0.1"}
    for _ in range(4):
        _me("ofl_notarealkey", **behind_the_proxy, HTTP_X_FORWARDED_FOR=ATTACKER)
    _assert_refused_for_failures(
        _me(key, **behind_the_proxy, HTTP_X_FORWARDED_FOR=f"{NEIGHBOUR}, {ATTACKER}")
    )
    neighbour = {**behind_the_proxy, "HTTP_X_FORWARDED_FOR": f"{ATTACKER}, {NEIGHBOUR}"}
    assert _me(key, **neighbour).status_code == 200
    assert _me("ofl_notarealkey", **neighbour).status_code == 401


def test_behind_a_proxy_on_a_unix_socket_other_addresses_are_not_refused(tenant, settings):
    settings.NUM_PROXIES = 1
    # gunicorn on a Unix socket names no peer address: the peer is the proxy, a local process.
    behind_the_proxy = {"address": ""}
    for _ in range(3):
        _me("ofl_notarealkey", **behind_the_proxy, HTTP_X_FORWARDED_FOR=ATTACKER)
    _assert_refused_for_failures(
        _me("ofl_notarealkey", **behind_the_proxy, HTTP_X_FORWARDED_FOR=ATTACKER)
    )
    neighbour = _me(api_key_for(tenant), **behind_the_proxy, HTTP_X_FORWARDED_FOR=NEIGHBOUR)
    assert neighbour.status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("backend", ["redis", "database"])
def test_a_look_up_the_database_could_not_answer_is_no_failure(tenant, settings, backend):
    if backend == "database":
        settings.REDIS_URL = ""
    key = api_key_for(tenant)
    params = connection.get_connection_params()
    for option in ("cursor_factory", "context", "prepare_threshold"):
        params.pop(option, None)
    # Another session holds the keys' table: every look-up gives up, as with a database failing over.
    with psycopg.connect(**params) as other:
        other.execute("LOCK TABLE accounts_apikey IN ACCESS EXCLUSIVE MODE")
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '50ms'")
        try:
            for _ in range(4):
                assert _me(key).status_code == 503
        finally:
            with connection.cursor() as cursor:
                cursor.execute("RESET lock_timeout")
    assert _me(key).status_code == 200


def test_a_key_in_use_is_answered_while_its_address_is_refused_others(tenant):
    key = api_key_for(tenant)
    assert _me(key).status_code == 200
    for _ in range(3):
        _me("ofl_notarealkey")
    _assert_refused_for_failures(_me("ofl_notarealkey"))
    assert _me(key).status_code == 200


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("backend", ["redis", "database"])
def test_racing_failures_from_one_address_get_no_more_look_ups_than_the_limit(
    live_server, tenant, settings, monkeypatch, backend
):
    import httpx

    if backend == "database":
        settings.REDIS_URL, settings.API_KEY_CACHE_SECONDS = "", 0
    settings.RATE_LIMIT_AUTH_FAILURES_PER_MINUTE = 20
    url = f"{live_server.url}/api/v1/me"
    looked_up, authenticate = [], authentication.api_key_authenticate

    def noting_look_ups(plaintext, *, look_up):
        def noted(find):
            def found():
                looked_up.append(plaintext)
                return find()

            return look_up(found)

        return authenticate(plaintext, look_up=noted)

    monkeypatch.setattr(authentication, "api_key_authenticate", noting_look_ups)

    def guess():
        return httpx.get(url, headers={"Authorization": "Bearer ofl_guessed"}, timeout=30)

    statuses = sorted(response.status_code for response in at_once(guess, 60))
    assert statuses == [401] * 20 + [429] * 40
    assert len(looked_up) == 20
    if backend == "redis":
        assert get_redis().zcard("rl:auth-failures:127.0.0.1") == 20
    else:
        assert len(RateLimitBucket.objects.get(key="auth-failures:127.0.0.1").hits) == 20
