import json
import pickle
from datetime import timedelta

import pytest
from django.core import signing
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import keycache
from accounts.models import ApiKey, api_key_hash
from accounts.services import (
    API_KEY_CACHE_SALT,
    api_key_cache_key,
    api_key_create,
    api_key_revoke,
)
from core.redis import get_redis


@pytest.fixture
def key_and_client(tenant):
    api_key, plaintext = api_key_create(tenant=tenant, name="ci")
    return api_key, plaintext, APIClient()


def _assert_unauthorized(response):
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "UNAUTHORIZED"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


def test_a_bearer_key_is_accepted_and_its_use_recorded(key_and_client, tenant):
    api_key, plaintext, client = key_and_client
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert response.status_code == 200
    assert response.json()["tenant"]["slug"] == tenant.slug
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_an_x_api_key_header_is_accepted(key_and_client):
    _, plaintext, client = key_and_client
    assert client.get("/api/v1/me", HTTP_X_API_KEY=plaintext).status_code == 200


def test_no_key_is_401(anonymous_client, db):
    _assert_unauthorized(anonymous_client.get("/api/v1/me"))


@pytest.mark.parametrize(
    "header",
    ["Bearer ofl_notarealkey", "Bearer", "Basic dXNlcjpwYXNz", "Bearer ofl_", "Token abc"],
)
def test_wrong_and_malformed_keys_are_401(anonymous_client, db, header):
    _assert_unauthorized(anonymous_client.get("/api/v1/me", HTTP_AUTHORIZATION=header))


def test_a_key_with_the_right_prefix_but_wrong_secret_is_401(key_and_client):
    api_key, plaintext, client = key_and_client
    forged = plaintext[:-4] + ("AAAA" if not plaintext.endswith("AAAA") else "BBBB")
    _assert_unauthorized(client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {forged}"))


def test_a_revoked_key_is_401(key_and_client):
    api_key, plaintext, client = key_and_client
    api_key_revoke(api_key=api_key)
    _assert_unauthorized(client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}"))


def test_an_expired_key_is_401(key_and_client):
    api_key, plaintext, client = key_and_client
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    _assert_unauthorized(client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}"))


def test_a_deactivated_workspaces_key_is_401(key_and_client, tenant):
    _, plaintext, client = key_and_client
    tenant.is_active = False
    tenant.save()
    _assert_unauthorized(client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}"))


def test_a_key_in_use_is_refused_as_soon_as_it_is_revoked(key_and_client):
    api_key, plaintext, client = key_and_client
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}").status_code == 200
    api_key_revoke(api_key=api_key)
    _assert_unauthorized(client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}"))


def test_a_key_in_use_is_refused_as_soon_as_its_workspace_is_deactivated(key_and_client, tenant):
    _, plaintext, client = key_and_client
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}").status_code == 200
    tenant.is_active = False
    tenant.save()
    _assert_unauthorized(client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}"))


def test_a_key_in_use_is_read_from_the_cache_which_holds_no_plaintext(key_and_client):
    _, plaintext, client = key_and_client
    client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}").status_code == 200
    assert not [query for query in queries if "accounts_apikey" in query["sql"]]
    redis = get_redis()
    secret = plaintext.removeprefix("ofl_")[8:].encode()
    assert redis.keys("*api-key*")
    assert not [key for key in redis.keys("*") if secret in key + (redis.dump(key) or b"")]


def test_the_plaintext_key_is_stored_nowhere(key_and_client):
    api_key, plaintext, client = key_and_client
    client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    api_key_revoke(api_key=api_key)
    secret = plaintext.removeprefix("ofl_")[8:]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND data_type IN ('text', 'character varying', 'jsonb')"
        )
        columns = cursor.fetchall()
        for table, column in columns:
            cursor.execute(
                f'SELECT COUNT(*) FROM "{table}" WHERE "{column}"::text LIKE %s', [f"%{secret}%"]
            )
            assert cursor.fetchone()[0] == 0, f"{table}.{column} holds the key"
    assert len(columns) > 20


def test_a_workspace_deleted_between_authentication_and_me_is_401(
    key_and_client, tenant, monkeypatch
):
    from accounts import authentication
    from accounts.models import Tenant

    _, plaintext, client = key_and_client
    authenticate = authentication.api_key_authenticate

    def authenticated_then_deleted(presented, **options):
        # Another process deletes the workspace while this request is past its key check.
        api_key = authenticate(presented, **options)
        Tenant.objects.filter(pk=api_key.tenant_id).delete()
        return api_key

    monkeypatch.setattr(authentication, "api_key_authenticate", authenticated_then_deleted)

    _assert_unauthorized(client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}"))


@pytest.mark.parametrize("other", ["another workspace's key", "ofl_notarealkey"])
def test_two_different_keys_in_the_two_headers_are_refused(key_and_client, other_tenant, other):
    _, plaintext, client = key_and_client
    if other == "another workspace's key":
        _, other = api_key_create(tenant=other_tenant, name="bob")
    for bearer, x_api_key in [(plaintext, other), (other, plaintext)]:
        response = client.get(
            "/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {bearer}", HTTP_X_API_KEY=x_api_key
        )
        _assert_unauthorized(response)
        assert "send one key" in response.json()["detail"]
    both = client.get(
        "/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}", HTTP_X_API_KEY=plaintext
    )
    assert both.status_code == 200


def test_an_empty_x_api_key_beside_a_bearer_key_is_no_second_key(key_and_client):
    _, plaintext, client = key_and_client
    for empty in ["", "  "]:
        response = client.get(
            "/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}", HTTP_X_API_KEY=empty
        )
        assert response.status_code == 200


def test_an_api_gateways_own_x_api_key_beside_a_bearer_key_is_no_second_key(key_and_client):
    # AWS API Gateway's usage plans read x-api-key, and pass it on to the service behind.
    _, plaintext, client = key_and_client
    response = client.get(
        "/api/v1/me",
        HTTP_AUTHORIZATION=f"Bearer {plaintext}",
        HTTP_X_API_KEY="Hq1mX0zV7a2uQ9bRkW3c85eTyJdLp4sN6gFhKoIi",
    )
    assert response.status_code == 200


def _shared_copy(plaintext: str) -> bytes:
    return get_redis().get(cache.make_and_validate_key(api_key_cache_key(api_key_hash(plaintext))))


def _plant(plaintext: str, raw: bytes) -> None:
    key = cache.make_and_validate_key(api_key_cache_key(api_key_hash(plaintext)))
    get_redis().set(key, raw, ex=60)


def test_the_shared_cache_keeps_a_key_as_signed_json_and_serves_it_from_there(key_and_client):
    api_key, plaintext, client = key_and_client
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}").status_code == 200
    rows = signing.loads(json.loads(_shared_copy(plaintext)), salt=API_KEY_CACHE_SALT)
    assert (rows["api_key"]["id"], rows["tenant"]["slug"]) == (api_key.pk, "alice")
    keycache.forget_all()
    with CaptureQueriesContext(connection) as queries:
        response = client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert response.status_code == 200 and response.json()["tenant"]["slug"] == "alice"
    assert not [query for query in queries if "accounts_apikey" in query["sql"]]


def test_a_key_planted_in_the_shared_cache_is_not_taken(key_and_client):
    api_key, plaintext, client = key_and_client
    invented = "ofl_" + "x" * 43

    def assert_refused(raw):
        keycache.forget_all()
        _plant(invented, raw)
        _assert_unauthorized(client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {invented}"))

    # What the cache took before it kept JSON: a pickled key, any key of any workspace.
    assert_refused(pickle.dumps(ApiKey.objects.select_related("tenant").get(pk=api_key.pk)))
    client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    genuine = _shared_copy(plaintext)
    forged = signing.loads(json.loads(genuine), salt=API_KEY_CACHE_SALT)
    forged["api_key"]["key_hash"] = api_key_hash(invented)
    assert_refused(json.dumps(forged).encode())
    assert_refused(json.dumps(signing.dumps(forged)).encode())
    # Signed, but another key's.
    assert_refused(genuine)


def test_revoking_a_key_drops_the_pickled_copy_an_earlier_release_keeps_too(key_and_client):
    # Web processes of the release before, still running beside this one's, keep theirs there.
    api_key, plaintext, client = key_and_client
    client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    earlier = cache.make_and_validate_key(f"api-key:{api_key.key_hash}")
    get_redis().set(earlier, pickle.dumps(api_key), ex=60)
    api_key_revoke(api_key=api_key)
    assert get_redis().exists(earlier) == 0
    assert _shared_copy(plaintext) is None
