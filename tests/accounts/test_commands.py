import getpass
import socket
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from accounts.models import ApiKey, AuditEvent, Membership, Tenant


def _operator_label() -> str:
    return f"manage.py ({getpass.getuser()}@{socket.gethostname()})"


def _call(*args):
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_create_tenant_with_an_admin(db):
    output = _call("create_tenant", "acme", "--name", "Acme Inc", "--admin-email", "boss@acme.test")
    tenant = Tenant.objects.get(slug="acme")
    assert tenant.name == "Acme Inc"
    assert Membership.objects.get(tenant=tenant).role == "admin"
    assert "acme" in output
    with pytest.raises(CommandError):
        _call("create_tenant", "acme")


def test_create_api_key_prints_only_the_key_on_the_last_line(tenant):
    output = _call("create_api_key", "--tenant", tenant.slug, "--name", "ci", "--expires-in", "30")
    key = output.strip().splitlines()[-1]
    assert key.startswith("ofl_")
    client = APIClient()
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    assert ApiKey.objects.get(name="ci").expires_at is not None


def test_create_api_key_is_audited_without_the_key(tenant):
    key = _call("create_api_key", "--tenant", tenant.slug, "--name", "ops").strip().splitlines()[-1]
    api_key = ApiKey.objects.get(name="ops")
    event = AuditEvent.objects.get(resource_type="accounts.apikey", resource_id=str(api_key.pk))
    assert (event.tenant, event.action, event.actor_type) == (tenant, "create", "operator")
    assert event.actor_label == _operator_label()
    assert (event.new_values["name"], event.new_values["role"]) == ("ops", "admin")
    assert key not in str(event.new_values) and api_key.key_hash not in str(event.new_values)


def test_create_api_key_for_an_unknown_tenant_fails(db):
    with pytest.raises(CommandError):
        _call("create_api_key", "--tenant", "nobody")


def test_revoke_api_key_by_prefix(tenant):
    key = _call("create_api_key", "--tenant", tenant.slug).strip().splitlines()[-1]
    output = _call("revoke_api_key", key[:12])
    assert "Revoked" in output
    revoked = AuditEvent.objects.get(action="deactivate")
    assert (revoked.actor_type, revoked.actor_label) == ("operator", _operator_label())
    assert APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401
    with pytest.raises(CommandError):
        _call("revoke_api_key", "nosuchpx")


def test_demo_creates_the_workspace_once_and_a_key_each_time(db):
    first = _call("demo")
    second = _call("demo")
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert Tenant.objects.get(slug="demo").credit_balance == 1000
    assert first.split("OFFLOAD_KEY=")[1] != second.split("OFFLOAD_KEY=")[1]


def test_sync_schedules_upserts_by_name_and_keeps_a_pause(db):
    from django_celery_beat.models import PeriodicTask

    _call("sync_schedules")
    sweep = PeriodicTask.objects.get(name="jobs-sweep")
    sweep.enabled = False
    sweep.save()
    output = _call("sync_schedules")
    assert "jobs-sweep" in output
    assert PeriodicTask.objects.filter(name="jobs-sweep").count() == 1
    assert not PeriodicTask.objects.get(name="jobs-sweep").enabled
