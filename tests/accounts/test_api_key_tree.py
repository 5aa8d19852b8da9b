"""Revoking a key revokes the keys it made through the API, and theirs: after a leak, what the
leaked key made is the attacker's too."""

import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.messages import get_messages
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, AuditEvent
from accounts.services import api_key_create, api_key_revoke
from tests.concurrency import sessions_waiting_for_a_lock
from tests.factories import api_key_for
from tests.worker import READY_TIMEOUT, wait_for


def _client_for(key: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


def _made_by(key: str, name: str) -> str:
    created = _client_for(key).post(
        "/api/v1/api-keys", {"name": name, "role": "admin"}, format="json"
    )
    assert created.status_code == 201
    return created.json()["key"]


@pytest.fixture
def leaked(tenant):
    """The leaked key, the key it made and the key that one made."""
    leaked = api_key_for(tenant, name="leaked")
    made = _made_by(leaked, "made")
    made_by_made = _made_by(made, "made by made")
    return leaked, made, made_by_made


def _status(key: str) -> int:
    return _client_for(key).get("/api/v1/me").status_code


def _revoke_through_the_api(admin_key: str, api_key: ApiKey, admin_client) -> str:
    response = _client_for(admin_key).delete(f"/api/v1/api-keys/{api_key.pk}")
    assert response.status_code == 200
    assert (response.json()["prefix"], response.json()["revoked_at"]) != (None, None)
    return f"revoked_with: {response.json()['revoked_with']}"


def _revoke_in_the_admin(admin_key: str, api_key: ApiKey, admin_client) -> str:
    response = admin_client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke", "_selected_action": [api_key.pk]},
        follow=True,
    )
    return " ".join(str(message) for message in get_messages(response.wsgi_request))


def _revoke_at_the_command_line(admin_key: str, api_key: ApiKey, admin_client) -> str:
    out = StringIO()
    call_command("revoke_api_key", api_key.prefix, stdout=out)
    return out.getvalue().strip()


REVOKE_PATHS = {
    "api": (_revoke_through_the_api, "revoked_with: 2"),
    "admin": (_revoke_in_the_admin, "Revoked 1 key, and 2 keys made by it."),
    "command": (
        _revoke_at_the_command_line,
        "Revoked API key {prefix} of alice, and 2 keys made by it.",
    ),
}


@pytest.mark.parametrize("path", REVOKE_PATHS)
def test_revoking_a_key_revokes_the_keys_it_made_and_theirs(
    path, leaked, tenant, other_tenant, admin_client
):
    leaked_key, made, made_by_made = leaked
    by_staff = api_key_for(tenant, name="by staff")
    theirs = api_key_for(other_tenant, name="bob key")
    # Each key has been used: every cache holds it.
    assert {_status(key) for key in [*leaked, by_staff, theirs]} == {200}
    revoke, said = REVOKE_PATHS[path]
    api_key = ApiKey.objects.get(name="leaked")

    answer = revoke(by_staff, api_key, admin_client)

    assert answer == said.format(prefix=api_key.prefix)
    assert [_status(key) for key in leaked] == [401, 401, 401]
    assert _status(by_staff) == _status(theirs) == 200
    assert set(ApiKey.objects.filter(revoked_at__isnull=True).values_list("name", flat=True)) == {
        "by staff",
        "bob key",
    }


def test_each_key_revoked_with_its_maker_is_audited_as_a_revocation_by_the_same_actor(
    leaked, admin_client
):
    leaked_key = ApiKey.objects.get(name="leaked")
    _revoke_in_the_admin("", leaked_key, admin_client)

    events = AuditEvent.objects.filter(action="deactivate").order_by("id")
    keys = {str(key.pk): key for key in ApiKey.objects.all()}
    assert [keys[event.resource_id].name for event in events] == [
        "leaked",
        "made",
        "made by made",
    ]
    assert {(event.actor_type, event.actor_label) for event in events} == {("user", "admin")}
    assert [event.metadata for event in events] == [
        {},
        {"revoked_with_key": leaked_key.pk},
        {"revoked_with_key": leaked_key.pk},
    ]
    for event in events:
        assert event.new_values == {"revoked_at": keys[event.resource_id].revoked_at.isoformat()}


@pytest.mark.parametrize("made", [2, 40])
def test_revoking_a_key_that_made_many_takes_as_few_queries_as_one_that_made_two(tenant, made):
    """A leaked key that made a key a minute for an hour: revoked in a few statements, however
    many it made, each of them still audited and stopped."""
    leaked, _ = api_key_create(tenant=tenant, name="leaked")
    for number in range(made):
        made_key, _ = api_key_create(tenant=tenant, name=f"made {number}", created_by_key=leaked)
        api_key_create(tenant=tenant, name=f"made by {number}", created_by_key=made_key)

    with CaptureQueriesContext(connection) as queries:
        revoked_with = api_key_revoke(api_key=leaked)

    assert revoked_with == 2 * made
    assert len(queries) <= 15
    assert not ApiKey.objects.filter(revoked_at__isnull=True).exists()
    assert AuditEvent.objects.filter(action="deactivate").count() == 1 + 2 * made


def test_revoking_a_key_made_by_a_key_leaves_its_maker_alone(leaked, admin_client):
    leaked_key, made, made_by_made = leaked
    _revoke_in_the_admin("", ApiKey.objects.get(name="made"), admin_client)
    assert [_status(key) for key in leaked] == [200, 401, 401]


def test_an_expired_key_revoked_still_takes_the_keys_it_made(leaked):
    leaked_key, made, made_by_made = leaked
    ApiKey.objects.filter(name="leaked").update(expires_at=timezone.now() - timedelta(days=1))
    output = _revoke_at_the_command_line("", ApiKey.objects.get(name="leaked"), None)
    assert output.endswith(", and 2 keys made by it.")
    assert [_status(key) for key in leaked] == [401, 401, 401]


def test_revoking_a_key_revoked_before_revokes_the_keys_it_made_still_usable(leaked):
    leaked_key, made, made_by_made = leaked
    # Revoked by a release that left the keys it made alone.
    revoked_at = timezone.now() - timedelta(days=1)
    ApiKey.objects.filter(name="leaked").update(revoked_at=revoked_at)
    output = _revoke_at_the_command_line("", ApiKey.objects.get(name="leaked"), None)
    assert output.splitlines()[-1] == "Revoked 2 keys made by it."
    assert [_status(made), _status(made_by_made)] == [401, 401]
    assert ApiKey.objects.get(name="leaked").revoked_at == revoked_at


def test_a_key_of_another_workspace_is_never_revoked_with_a_key(leaked, other_tenant):
    # A key makes keys only in its own workspace; a row that says otherwise is not followed.
    theirs = api_key_for(other_tenant, name="bob key")
    ApiKey.objects.filter(name="bob key").update(created_by_key=ApiKey.objects.get(name="leaked"))
    _revoke_at_the_command_line("", ApiKey.objects.get(name="leaked"), None)
    assert _status(theirs) == 200


@pytest.mark.django_db(transaction=True)
def test_a_key_revoked_while_it_makes_a_key_makes_none(tenant):
    maker = api_key_for(tenant, name="maker")
    # Used a moment ago: its request writes no last-used time, which would wait for the revocation.
    ApiKey.objects.filter(name="maker").update(last_used_at=timezone.now())
    answered = []

    def make():
        try:
            created = _client_for(maker).post("/api/v1/api-keys", {"name": "late"}, format="json")
            answered.append(created.status_code)
        finally:
            connection.close()

    with transaction.atomic():
        api_key_revoke(api_key=ApiKey.objects.get(name="maker"))
        thread = threading.Thread(target=make)
        thread.start()
        wait_for(sessions_waiting_for_a_lock, timeout=READY_TIMEOUT, message="the key's creation")
    thread.join()
    assert answered == [401]
    assert not ApiKey.objects.filter(name="late").exists()


def test_the_api_and_the_admin_show_the_key_that_made_a_key(leaked, admin_client):
    leaked_key, made, made_by_made = leaked
    made_key = ApiKey.objects.get(name="made")
    listed = _client_for(leaked_key).get("/api/v1/api-keys").json()["results"]
    assert {item["name"]: item["created_by_key"] for item in listed} == {
        "made by made": made_key.prefix,
        "made": ApiKey.objects.get(name="leaked").prefix,
        "leaked": None,
    }
    page = admin_client.get(
        f"/admin/accounts/apikey/{ApiKey.objects.get(name='made by made').pk}/change/"
    )
    assert str(made_key) in page.content.decode()
    made_by_a_key = admin_client.get("/admin/accounts/apikey/?made_by=key")
    assert {key.name for key in made_by_a_key.context["cl"].result_list} == {
        "made by made",
        "made",
    }
    keys_it_made = admin_client.get(f"/admin/accounts/apikey/?created_by_key={made_key.pk}")
    assert [key.name for key in keys_it_made.context["cl"].result_list] == ["made by made"]
