"""accounts 0013: a key made through the API by a key before the upgrade is given its maker from
the audit log, which recorded it as the creation's actor, and is revoked with it."""

import secrets
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from rest_framework.test import APIClient

from accounts.models import ApiKey, api_key_hash

BEFORE = ("accounts", "0012_notification_search_indexes")


@pytest.fixture
def accounts_at_0012():
    """The accounts schema of the release before 0013, back to the latest afterwards."""
    call_command("migrate", *BEFORE, verbosity=0)
    yield MigrationExecutor(connection).loader.project_state(BEFORE).apps
    call_command("migrate", verbosity=0)


def _key(apps, tenant, name: str, *, made_by=None, actor_type: str = "api_key") -> str:
    """A key as the release before stored it, with its creation's audit event; its plaintext."""
    plaintext = f"ofl_{secrets.token_urlsafe(32)}"
    api_key = apps.get_model("accounts", "ApiKey").objects.create(
        tenant=tenant,
        name=name,
        role="admin",
        prefix=plaintext[4:12],
        key_hash=api_key_hash(plaintext),
    )
    if made_by is not None:
        apps.get_model("accounts", "AuditEvent").objects.create(
            tenant=tenant,
            resource_type="accounts.apikey",
            resource_id=str(api_key.pk),
            action="create",
            actor_type=actor_type,
            actor_id=str(made_by.pk),
        )
    return plaintext


def _status(key: str) -> int:
    return APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {key}").status_code


@pytest.mark.django_db(transaction=True)
def test_keys_made_by_a_key_before_the_upgrade_are_revoked_with_it(accounts_at_0012):
    apps = accounts_at_0012
    Tenant = apps.get_model("accounts", "Tenant")
    ApiKeyThen = apps.get_model("accounts", "ApiKey")
    alice = Tenant.objects.create(slug="alice", name="Alice")
    bob = Tenant.objects.create(slug="bob", name="Bob")
    leaked = _key(apps, alice, "leaked")
    made = _key(apps, alice, "made", made_by=ApiKeyThen.objects.get(name="leaked"))
    made_by_made = _key(apps, alice, "made by made", made_by=ApiKeyThen.objects.get(name="made"))
    # A user is no key; a key of another workspace never made one here.
    by_staff = _key(
        apps, alice, "by staff", made_by=ApiKeyThen.objects.get(name="leaked"), actor_type="user"
    )
    theirs = _key(apps, bob, "bob key", made_by=ApiKeyThen.objects.get(name="leaked"))

    call_command("migrate", verbosity=0)

    makers = dict(ApiKey.objects.values_list("name", "created_by_key__name"))
    assert makers == {
        "leaked": None,
        "made": "leaked",
        "made by made": "made",
        "by staff": None,
        "bob key": None,
    }
    call_command("revoke_api_key", leaked[4:12], stdout=StringIO())
    assert [_status(key) for key in [leaked, made, made_by_made, by_staff, theirs]] == [
        401,
        401,
        401,
        200,
        200,
    ]
