from io import StringIO

import pytest
from django.core.management import call_command
from rest_framework.fields import DateTimeField

from accounts.models import ApiKey, AuditEvent
from accounts.services import api_key_create


def test_a_workspace_admin_creates_lists_and_revokes_keys(api_client, anonymous_client, tenant):
    created = api_client.post(
        "/api/v1/api-keys", {"name": "deploy", "expires_in_days": 7}, format="json"
    )
    assert created.status_code == 201
    key = created.json()["key"]
    listed = api_client.get("/api/v1/api-keys").json()["results"]
    assert "deploy" in [item["name"] for item in listed]
    assert key not in str(listed)
    assert all("key" not in item and "key_hash" not in item for item in listed)
    anonymous_client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    assert anonymous_client.get("/api/v1/me").status_code == 200
    api_key = ApiKey.objects.get(name="deploy")
    assert api_client.delete(f"/api/v1/api-keys/{api_key.pk}").status_code == 200
    assert anonymous_client.get("/api/v1/me").status_code == 401


def test_members_may_not_manage_keys(member_api_client):
    response = member_api_client.post("/api/v1/api-keys", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "FORBIDDEN"


def test_another_workspaces_key_is_not_found(api_client, other_tenant):
    from accounts.services import api_key_create

    theirs, _ = api_key_create(tenant=other_tenant)
    assert api_client.delete(f"/api/v1/api-keys/{theirs.pk}").status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None


def test_bad_key_parameters_are_400(api_client):
    response = api_client.post(
        "/api/v1/api-keys", {"role": "owner", "expires_in_days": 0}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()["errors"]) == {"role", "expires_in_days"}


@pytest.mark.parametrize("name", ["evil\u001b[2J", "ci\nFAKE   admin   active", "a\u202eb"])
def test_a_key_name_with_control_or_invisible_characters_is_400(api_client, tenant, name):
    response = api_client.post("/api/v1/api-keys", {"name": name}, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["name"]
    assert not ApiKey.objects.filter(name=name).exists()


def test_a_keys_prefix_never_starts_like_a_command_line_option(tenant, monkeypatch):
    import secrets

    drawn = iter(["-" + "a" * 42, "b" * 43])
    monkeypatch.setattr(secrets, "token_urlsafe", lambda nbytes: next(drawn))

    api_key, plaintext = api_key_create(tenant=tenant)
    call_command("revoke_api_key", api_key.prefix, stdout=StringIO())

    assert api_key.prefix == "b" * 8 and plaintext == "ofl_" + "b" * 43
    api_key.refresh_from_db()
    assert api_key.revoked_at is not None


def test_an_idempotent_key_creation_never_stores_the_key(api_client, tenant):
    from core.models import IdempotencyRecord

    body = {"name": "deploy", "expires_in_days": 7}
    first = api_client.post("/api/v1/api-keys", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert first.status_code == 201
    assert first.json()["key"] not in str(IdempotencyRecord.objects.get().response_body)
    again = api_client.post("/api/v1/api-keys", body, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (again.status_code, again["Idempotent-Replayed"]) == (201, "true")
    assert again.json()["id"] == first.json()["id"] and again.json()["key"] is None
    assert ApiKey.objects.filter(name="deploy").count() == 1


def test_creating_a_key_is_audited_with_the_key_that_created_it(api_client, api_key, tenant):
    creator = ApiKey.objects.get(name="alice key")
    created = api_client.post(
        "/api/v1/api-keys", {"name": "ci", "role": "admin", "expires_in_days": 7}, format="json"
    )
    assert created.status_code == 201
    event = AuditEvent.objects.get(
        resource_type="accounts.apikey", resource_id=str(created.json()["id"])
    )
    assert (event.tenant, event.action) == (tenant, "create")
    assert (event.actor_type, event.actor_id) == ("api_key", str(creator.pk))
    assert event.new_values["name"] == "ci" and event.new_values["role"] == "admin"
    assert event.new_values["prefix"] == created.json()["prefix"]
    assert event.new_values["expires_at"] is not None
    assert created.json()["key"] not in str(event.new_values)
    listed = api_client.get(f"/api/v1/audit-events?resource_id={created.json()['id']}")
    assert [e["action"] for e in listed.json()["results"]] == ["create"]


def test_an_idempotent_replay_of_a_key_creation_is_audited_once(api_client):
    audited = AuditEvent.objects.filter(resource_type="accounts.apikey", action="create")
    before = audited.count()
    for _ in range(2):
        api_client.post(
            "/api/v1/api-keys", {"name": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="k-9"
        )
    assert audited.count() == before + 1


def test_a_refused_key_creation_is_not_audited(member_api_client, api_client):
    before = AuditEvent.objects.count()
    assert (
        member_api_client.post("/api/v1/api-keys", {"name": "x"}, format="json").status_code == 403
    )
    assert api_client.post("/api/v1/api-keys", {"role": "owner"}, format="json").status_code == 400
    assert AuditEvent.objects.count() == before


@pytest.fixture
def expiring_client(tenant):
    """An admin key of the workspace that expires in 7 days."""
    from rest_framework.test import APIClient

    _, plaintext = api_key_create(
        tenant=tenant, name="short-lived", role="admin", expires_in_days=7
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    return client


@pytest.mark.parametrize("asked", [{}, {"expires_in_days": 8}, {"expires_in_days": 7}])
def test_an_expiring_key_may_not_create_a_key_that_outlives_it(expiring_client, asked):
    creator = ApiKey.objects.get(name="short-lived")
    audited = AuditEvent.objects.filter(resource_type="accounts.apikey", action="create")
    before = audited.count()

    response = expiring_client.post(
        "/api/v1/api-keys", {"name": "forever", "role": "admin", **asked}, format="json"
    )

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "INVALID_REQUEST"
    assert list(body["errors"]) == ["expires_in_days"]
    [reason] = body["errors"]["expires_in_days"]
    assert "may not outlive it" in reason and "expires_at" in reason
    assert reason.endswith("give expires_in_days of at most 6.")
    assert f"expires at {DateTimeField().to_representation(creator.expires_at)}" in reason
    assert not ApiKey.objects.filter(name="forever").exists()
    assert audited.count() == before


def test_an_expiring_key_creates_a_key_that_expires_before_it(expiring_client):
    creator = ApiKey.objects.get(name="short-lived")

    response = expiring_client.post(
        "/api/v1/api-keys", {"name": "ci", "expires_in_days": 6}, format="json"
    )

    assert response.status_code == 201
    created = ApiKey.objects.get(name="ci")
    assert created.expires_at < creator.expires_at


def test_a_key_with_less_than_a_day_left_may_create_no_key(expiring_client):
    from datetime import timedelta

    from django.utils import timezone

    ApiKey.objects.filter(name="short-lived").update(
        expires_at=timezone.now() + timedelta(hours=12)
    )

    response = expiring_client.post("/api/v1/api-keys", {"expires_in_days": 1}, format="json")

    assert response.status_code == 400
    [reason] = response.json()["errors"]["expires_in_days"]
    assert reason.endswith("less than a day is left, so it can create no key.")


def test_keys_that_do_not_expire_and_staff_still_create_keys_that_never_expire(api_client, tenant):
    from rest_framework.test import APIClient

    from tests.factories import MembershipFactory, UserFactory

    by_key = api_client.post("/api/v1/api-keys", {"name": "by key"}, format="json")
    staff = MembershipFactory(tenant=tenant, user=UserFactory(is_staff=True), role="admin").user
    session = APIClient()
    session.force_login(staff)
    by_staff = session.post("/api/v1/api-keys", {"name": "by staff"}, format="json")

    assert (by_key.status_code, by_staff.status_code) == (201, 201)
    assert by_key.json()["expires_at"] is None and by_staff.json()["expires_at"] is None


def test_a_key_stopped_or_slowed_in_the_admin_creates_only_keys_held_to_its_limits(tenant):
    from rest_framework.test import APIClient

    _, plaintext = api_key_create(
        tenant=tenant, name="stopped", role="admin", rate_limit_per_minute=0, rate_limit_per_day=50
    )
    stopped = APIClient()
    stopped.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    job = {"type": "diagnostic", "payload": {}}
    assert stopped.post("/api/v1/jobs", job, format="json").status_code == 429

    created = stopped.post("/api/v1/api-keys", {"name": "fresh", "role": "admin"}, format="json")

    assert created.status_code == 201
    body = created.json()
    assert (body["rate_limit_per_minute"], body["rate_limit_per_day"]) == (0, 50)
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Bearer {body['key']}")
    assert fresh.post("/api/v1/jobs", job, format="json").status_code == 429
