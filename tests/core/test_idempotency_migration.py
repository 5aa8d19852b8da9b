"""The migrations of replay records: 0002 forgets share links kept in them before they were left
out; 0005 keeps their bodies as text, so that a replay's keys keep their order."""

import json
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from core.models import IdempotencyRecord
from tests.factories import TenantFactory


@pytest.fixture
def core_at_0001():
    call_command("migrate", "core", "0001", verbosity=0)
    yield MigrationExecutor(connection).loader.project_state(("core", "0001_initial")).apps
    call_command("migrate", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_old_replay_records_forget_share_links_and_keep_everything_else(core_at_0001):
    tenant = TenantFactory()
    records = core_at_0001.get_model("core", "IdempotencyRecord").objects
    expires = timezone.now() + timedelta(hours=1)
    for key, body in [
        ("a", {"id": 7, "url": "https://offload.example.com/s/secret-token"}),
        ("b", {"url": "/api/v1/jobs/j", "id": "j"}),
    ]:
        records.create(
            tenant_id=tenant.pk, key=key, fingerprint="f", expires_at=expires, response_body=body
        )

    call_command("migrate", verbosity=0)

    bodies = dict(IdempotencyRecord.objects.values_list("key", "response_body"))
    assert json.loads(bodies["a"]) == {"id": 7, "url": None}
    assert json.loads(bodies["b"]) == {"id": "j", "url": "/api/v1/jobs/j"}


@pytest.mark.django_db(transaction=True)
def test_replay_records_survive_the_text_migration_reverted_and_applied_again():
    tenant = TenantFactory()
    expires = timezone.now() + timedelta(hours=1)
    IdempotencyRecord.objects.create(
        tenant=tenant, key="in-flight", fingerprint="f", expires_at=expires
    )
    IdempotencyRecord.objects.create(
        tenant=tenant,
        key="done",
        fingerprint="f",
        expires_at=expires,
        state=IdempotencyRecord.State.DONE,
        response_body='{"z": 1, "a": "ø"}',
    )

    try:
        call_command("migrate", "core", "0004", verbosity=0)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT key, response_body->>'a' FROM core_idempotencyrecord ORDER BY key"
            )
            assert cursor.fetchall() == [("done", "ø"), ("in-flight", None)]
    finally:
        call_command("migrate", verbosity=0)

    bodies = dict(IdempotencyRecord.objects.values_list("key", "response_body"))
    assert json.loads(bodies["done"]) == {"a": "ø", "z": 1}
    assert json.loads(bodies["in-flight"]) is None
