"""accounts 0010: a key's limit of 0 meant "the default" before 0 stopped a key's submissions; keys
stored with 0 keep the default, and migrating back refuses while a key is stopped with 0."""

import re
import secrets

import pytest
from django.core.cache import cache
from django.core.management import call_command
from django.db import connection
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder
from rest_framework.test import APIClient

from accounts import keycache
from accounts.models import ApiKey, api_key_hash
from accounts.services import _api_key_cache_value, api_key_cache_key, api_key_revoke
from jobs.models import Job
from tests.factories import TenantFactory, api_key_for

DIAGNOSTIC = {"type": "diagnostic", "payload": {"steps": 1, "step_seconds": 0}}


@pytest.fixture
def accounts_at_0009():
    """The accounts schema of the release before 0010, back to the latest afterwards."""
    call_command("migrate", "accounts", "0009", verbosity=0)
    yield
    call_command("migrate", verbosity=0)


def _key_then(tenant, name: str, **limits) -> tuple[ApiKey, str]:
    """A key as the release before 0010 stored it (the model has columns it had not), and its
    plaintext."""
    then = (
        MigrationExecutor(connection)
        .loader.project_state(("accounts", "0009_notification_kind_choices"))
        .apps
    )
    plaintext = f"ofl_{secrets.token_urlsafe(32)}"
    row = then.get_model("accounts", "ApiKey").objects.create(
        tenant_id=tenant.pk,
        name=name,
        role="admin",
        prefix=plaintext[4:12],
        key_hash=api_key_hash(plaintext),
        **limits,
    )
    return ApiKey(
        tenant=tenant, **{f.attname: f.value_from_object(row) for f in row._meta.concrete_fields}
    ), plaintext


def _client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _limits():
    return {
        name: (per_minute, per_day)
        for name, per_minute, per_day in ApiKey.objects.values_list(
            "name", "rate_limit_per_minute", "rate_limit_per_day"
        )
    }


@pytest.mark.django_db(transaction=True)
def test_a_key_stored_with_a_limit_of_0_keeps_submitting_under_the_default(accounts_at_0009):
    tenant = TenantFactory()
    _key_then(tenant, "zero", rate_limit_per_minute=0, rate_limit_per_day=0)
    _key_then(tenant, "own", rate_limit_per_minute=5, rate_limit_per_day=0)

    call_command("migrate", verbosity=0)

    assert _limits() == {"zero": (None, None), "own": (5, None)}


@pytest.mark.django_db(transaction=True)
def test_a_key_the_release_before_cached_with_a_limit_of_0_submits_once_migrated(
    accounts_at_0009,
):
    tenant = TenantFactory(credit_balance=10)
    api_key, key = _key_then(tenant, "zero", rate_limit_per_minute=0, rate_limit_per_day=0)
    # Its requests left the key, 0 and all, in the cache the web processes share.
    cache.set(api_key_cache_key(api_key.key_hash), _api_key_cache_value(api_key), 60)

    call_command("migrate", verbosity=0)
    keycache.forget_all()  # the upgraded release's web processes start with no copies of their own

    submitted = _client_for(key).post("/api/v1/jobs", DIAGNOSTIC, format="json")
    assert submitted.status_code == 202, submitted.json()
    assert Job.objects.filter(tenant=tenant).count() == 1


@pytest.mark.django_db(transaction=True)
def test_migrating_back_refuses_while_a_usable_key_is_stopped_with_a_limit_of_0():
    tenant = TenantFactory(slug="acme")
    api_key_for(tenant, name="stopped", rate_limit_per_day=0)
    api_key_for(tenant, name="own", rate_limit_per_minute=5)
    api_key_for(tenant, name="revoked", rate_limit_per_minute=0)
    api_key_revoke(api_key=ApiKey.objects.get(name="revoked"))
    stopped = ApiKey.objects.get(name="stopped")
    try:
        named = re.escape(f"then migrate again (1): acme ofl_{stopped.prefix}.")
        with pytest.raises(IrreversibleError, match=rf"^Keys stopped with a limit of 0 .*{named}$"):
            call_command("migrate", "accounts", "0009", verbosity=0)
        applied = MigrationRecorder(connection).applied_migrations()
        assert ("accounts", "0010_api_key_limit_help") in applied
        assert _limits()["stopped"] == (None, 0)

        ApiKey.objects.filter(pk=stopped.pk).update(rate_limit_per_day=3)
        call_command("migrate", "accounts", "0009", verbosity=0)
    finally:
        call_command("migrate", verbosity=0)
    assert _limits() == {"stopped": (None, 3), "own": (5, None), "revoked": (None, None)}
