"""Who asked for a job's cancel or requeue: the workspace reads its own keys and members by name
and the platform's operators only as "an operator"; staff read who it was in the admin."""

import getpass
import importlib
import socket
from io import StringIO

from django.apps import apps
from django.contrib.messages import get_messages
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import ApiKey
from jobs.models import Job, JobEvent
from tests.factories import MembershipFactory, UserFactory
from tests.jobs.factories import JobFactory


def _history(client, job: Job) -> list[dict]:
    response = client.get(f"/api/v1/jobs/{job.pk}/events")
    assert response.status_code == 200
    return response.json()["results"]


def _admin_action(admin_client, action: str, job: Job) -> None:
    response = admin_client.post(
        "/admin/jobs/job/", {"action": action, "_selected_action": [str(job.pk)]}, follow=True
    )
    assert [message.level_tag for message in get_messages(response.wsgi_request)] == ["success"]


def test_the_platforms_operators_are_not_named_in_a_workspaces_job_history(
    api_client, admin_client, tenant
):
    job = JobFactory(tenant=tenant)
    call_command("cancel_job", str(job.pk), stdout=StringIO())
    _admin_action(admin_client, "requeue_jobs", job)
    _admin_action(admin_client, "cancel_jobs", job)

    history = _history(api_client, job)

    assert [event["message"] for event in history] == [
        "CANCELED: Canceled by an operator.",
        "Requeued by an operator.",
        "CANCELED: Canceled by an operator.",
    ]
    assert {key for event in history for key in event} == {
        "kind",
        "attempt",
        "message",
        "created_at",
    }
    # Staff still see who it was, on the job's page and in the Job events list.
    operator = f"manage.py ({getpass.getuser()}@{socket.gethostname()})"
    assert list(job.events.values_list("actor", flat=True)) == [operator, "admin", "admin"]
    for url in [f"/admin/jobs/job/{job.pk}/change/", f"/admin/jobs/jobevent/?q={job.pk}"]:
        page = admin_client.get(url).content.decode()
        assert operator in page and ">admin<" in page, url


def test_the_workspaces_own_api_key_and_members_are_named_in_its_job_history(
    api_client, admin_client, tenant, other_tenant
):
    by_key, by_member, by_staff_member = (JobFactory(tenant=tenant) for _ in range(3))
    assert api_client.post(f"/api/v1/jobs/{by_key.pk}/cancel").status_code == 200
    member = MembershipFactory(tenant=tenant, user=UserFactory(is_staff=True)).user
    session = APIClient()
    session.force_login(member)
    assert session.post(f"/api/v1/jobs/{by_member.pk}/cancel").status_code == 200
    # A member of another workspace who is staff too acts there as an operator of the platform.
    outsider = UserFactory(is_staff=True, is_superuser=True)
    MembershipFactory(tenant=other_tenant, user=outsider)
    admin_client.force_login(outsider)
    _admin_action(admin_client, "cancel_jobs", by_staff_member)

    key = ApiKey.objects.get(tenant=tenant, name="alice key")
    assert [event["message"] for event in _history(api_client, by_key)] == [
        f"CANCELED: Canceled by API key {key}."
    ]
    assert [event["message"] for event in _history(api_client, by_member)] == [
        f"CANCELED: Canceled by {member.username}."
    ]
    assert [event["message"] for event in _history(api_client, by_staff_member)] == [
        "CANCELED: Canceled by an operator."
    ]
    assert by_staff_member.events.get().actor == outsider.username


def test_a_cancel_asked_of_a_running_job_says_who_asked_and_when(api_client, admin_client, tenant):
    by_key, by_staff = (
        JobFactory(tenant=tenant, status=Job.Status.PROCESSING, attempts=1) for _ in range(2)
    )
    assert api_client.post(f"/api/v1/jobs/{by_key.pk}/cancel").status_code == 202
    assert api_client.post(f"/api/v1/jobs/{by_key.pk}/cancel").status_code == 202
    call_command("cancel_job", str(by_staff.pk), stdout=StringIO())

    key = ApiKey.objects.get(tenant=tenant, name="alice key")
    assert [(e["kind"], e["attempt"], e["message"]) for e in _history(api_client, by_key)] == [
        (
            "cancel_requested",
            1,
            f"Cancel asked by API key {key}; the attempt stops at its next check.",
        )
    ]
    assert [e["message"] for e in _history(api_client, by_staff)] == [
        "Cancel asked by an operator; the attempt stops at its next check."
    ]
    operator = f"manage.py ({getpass.getuser()}@{socket.gethostname()})"
    assert by_staff.events.get().actor == operator
    shown = StringIO()
    call_command("show_job", str(by_staff.pk), stdout=shown)
    assert f"(asked by {operator})" in shown.getvalue()
    shown = StringIO()
    call_command("show_job", str(by_key.pk), stdout=shown)
    # The key asked, and the message says so: it is named once.
    assert shown.getvalue().count(str(key)) == 1


def test_history_written_before_no_longer_names_the_platforms_operators_once_migrated(
    tenant, other_tenant
):
    migration = importlib.import_module("jobs.migrations.0006_jobevent_operators_unnamed")
    job = JobFactory(tenant=tenant)
    UserFactory(username="oncall-ops@offload.internal", is_staff=True)
    MembershipFactory(tenant=other_tenant, user=UserFactory(username="bob@example.com"))
    MembershipFactory(tenant=tenant, user=UserFactory(username="alice@example.com"))
    written_before = [
        ("canceled", "CANCELED: Canceled by manage.py (root@vm)."),
        ("requeued", "Requeued by oncall-ops@offload.internal."),
        ("canceled", "CANCELED: Canceled by bob@example.com."),
        ("requeued", "Requeued by alice@example.com."),
        ("canceled", "CANCELED: Canceled by AbCd1234… (ci)."),
        ("failed", "BOOM: Canceled by manage.py (root@vm)."),
    ]
    JobEvent.objects.bulk_create(
        JobEvent(job=job, kind=kind, message=message) for kind, message in written_before
    )

    migration.operators_unnamed(apps, schema_editor=None)

    assert list(job.events.values_list("message", "actor")) == [
        ("CANCELED: Canceled by an operator.", "manage.py (root@vm)"),
        ("Requeued by an operator.", "oncall-ops@offload.internal"),
        ("CANCELED: Canceled by an operator.", "bob@example.com"),
        ("Requeued by alice@example.com.", ""),
        ("CANCELED: Canceled by AbCd1234… (ci).", ""),
        ("BOOM: Canceled by manage.py (root@vm).", ""),
    ]
