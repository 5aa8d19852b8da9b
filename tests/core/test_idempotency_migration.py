"""The migration that forgets share links kept in replay records before they were left out."""

import importlib
from datetime import timedelta

from django.apps import apps
from django.utils import timezone

from core.models import IdempotencyRecord

migration = importlib.import_module("core.migrations.0002_idempotency_records_forget_share_links")


def test_old_replay_records_forget_share_links_and_keep_everything_else(tenant):
    expires = timezone.now() + timedelta(hours=1)
    shared = IdempotencyRecord.objects.create(
        tenant=tenant,
        key="a",
        fingerprint="f",
        expires_at=expires,
        response_body={"id": 7, "url": "https://offload.example.com/s/secret-token"},
    )
    job = IdempotencyRecord.objects.create(
        tenant=tenant,
        key="b",
        fingerprint="f",
        expires_at=expires,
        response_body={"id": "j", "url": "/api/v1/jobs/j"},
    )
    migration.forget_share_links(apps, None)
    shared.refresh_from_db()
    job.refresh_from_db()
    assert shared.response_body == {"id": 7, "url": None}
    assert job.response_body == {"id": "j", "url": "/api/v1/jobs/j"}
