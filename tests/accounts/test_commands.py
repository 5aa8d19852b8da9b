import getpass
import socket
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.contrib.messages import get_messages
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ApiKey, AuditEvent, Membership, Tenant
from accounts.services import api_key_revoke, credits_debit
from core.locks import named_lock
from generations.models import GeneratedImage
from invoices.models import Invoice
from jobs.models import Job, JobEvent, TaskRun
from tests.budgets.factories import ProjectFactory, hours, material
from tests.factories import api_key_for
from tests.invoices.factories import InvoiceFactory, line
from tests.jobs.factories import JobFactory
from tests.worker import manage, worker_env


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
    assert output.splitlines()[1] == (
        "Its admin is boss@acme.test (a new user, without a password), who receives its alerts"
        " by email."
    )
    again = _call("create_tenant", "acme2", "--admin-email", "Boss@acme.test")
    assert "(an existing user)" in again.splitlines()[1]
    with pytest.raises(CommandError):
        _call("create_tenant", "acme")


def test_a_slug_taken_in_another_case_is_refused_by_the_command_and_the_admin(tenant, admin_client):
    with pytest.raises(CommandError, match=f"A tenant with slug '{tenant.slug}' already exists."):
        call_command("create_tenant", tenant.slug.upper(), stdout=StringIO())
    form = {
        "name": "Shouting",
        "slug": tenant.slug.capitalize(),
        "is_active": "on",
        "memberships-TOTAL_FORMS": "0",
        "memberships-INITIAL_FORMS": "0",
        "new-members-TOTAL_FORMS": "0",
        "new-members-INITIAL_FORMS": "0",
    }
    refused = admin_client.post("/admin/accounts/tenant/add/", form)
    assert refused.status_code == 200
    assert refused.context["adminform"].form.errors["slug"] == [
        f"The workspace '{tenant.slug}' has this slug in another case."
    ]
    assert Tenant.objects.count() == 1
    renamed = admin_client.post("/admin/accounts/tenant/add/", {**form, "slug": "shouting"})
    assert renamed.status_code == 302


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


def test_revoke_api_key_by_the_whole_key_revokes_that_key_only(tenant):
    key = _call("create_api_key", "--tenant", tenant.slug).strip().splitlines()[-1]
    with pytest.raises(CommandError, match="No API key has that prefix"):
        _call("revoke_api_key", f"{key}x")
    assert APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    assert "Revoked" in _call("revoke_api_key", f" {key}\n")
    assert APIClient().get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401


def test_revoke_api_key_again_says_the_key_was_already_revoked(tenant):
    key = _call("create_api_key", "--tenant", tenant.slug).strip().splitlines()[-1]
    _call("revoke_api_key", key[:12])
    revoked_at = timezone.localtime(ApiKey.objects.get().revoked_at)
    output = _call("revoke_api_key", key[:12])
    assert output == (
        f"API key {key[4:12]} of alice was already revoked, at {revoked_at:%Y-%m-%d %H:%M %Z}.\n"
    )
    assert AuditEvent.objects.filter(action="deactivate").count() == 1


def _redis_out_of_reach(settings):
    unreachable = "redis://127.0.0.1:1/0"
    settings.REDIS_URL = unreachable
    settings.CACHES = {
        **settings.CACHES,
        "default": {**settings.CACHES["default"], "LOCATION": unreachable},
    }


@pytest.mark.django_db(transaction=True)
def test_a_revoke_while_redis_is_out_of_reach_changes_nothing_and_says_so(
    tenant, admin_client, settings
):
    key = api_key_for(tenant)
    _redis_out_of_reach(settings)
    with pytest.raises(CommandError, match="Redis did not answer .*Run it again once it does"):
        _call("revoke_api_key", key[:12])
    response = admin_client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke", "_selected_action": [ApiKey.objects.get().pk]},
    )
    assert response.status_code == 503
    assert ApiKey.objects.get().revoked_at is None
    assert not AuditEvent.objects.filter(action="deactivate").exists()


@pytest.mark.django_db(transaction=True)
def test_delete_tenant_while_redis_is_out_of_reach_leaves_the_workspace_as_it_was(tenant, settings):
    api_key_for(tenant)
    _redis_out_of_reach(settings)
    with pytest.raises(CommandError, match="Redis did not answer"):
        _call("delete_tenant", tenant.slug, "--no-input")
    tenant.refresh_from_db()
    assert tenant.is_active


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("command", ["run_budget_check", "cleanup_share_links"])
def test_scheduled_work_run_by_hand_while_redis_is_out_of_reach_says_so(settings, command):
    _redis_out_of_reach(settings)
    with pytest.raises(CommandError, match="Redis did not answer .*this command needs it"):
        _call(command)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("command", "lock", "said"),
    [
        ("run_budget_check", "budget_alert_check", "Nothing was checked: another budget check"),
        (
            "cleanup_share_links",
            "share_link_cleanup",
            "Nothing was cleaned up: another share-link cleanup",
        ),
    ],
)
def test_scheduled_work_run_by_hand_while_another_run_holds_its_lock_exits_75(command, lock, said):
    with named_lock(lock, ttl=60):
        skipped = manage(command, env=worker_env())
    # 75, sysexits' "temporary failure": cron and monitoring tell it from a failure (1).
    assert skipped.returncode == 75
    assert skipped.stdout == ""
    [line] = skipped.stderr.splitlines()
    assert line.startswith(f"CommandError: {said} is running")
    assert line.endswith("Run this again once it has ended.")
    assert TaskRun.objects.get(name=lock).outcome == TaskRun.Outcome.SKIPPED


@pytest.mark.django_db(transaction=True)
def test_a_new_key_and_the_demo_workspace_need_no_redis(tenant, settings):
    _redis_out_of_reach(settings)
    key = _call("create_api_key", "--tenant", tenant.slug).strip().splitlines()[-1]
    assert key.startswith("ofl_")
    assert "export OFFLOAD_KEY=ofl_" in _call("demo")
    assert Tenant.objects.get(slug="demo").api_keys.count() == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create_tenant", ""], "The slug may not be empty."),
        (
            ["create_tenant", "zeta", "--admin-email", "boss@x.test"],
            "The user named 'boss@x.test' has another email address. Nothing was created.",
        ),
        (
            ["create_api_key", "--tenant", "alice", "--name", "k" * 101],
            "--name: Ensure this value has at most 100 characters (it has 101).",
        ),
        (
            ["grant_credits", "alice", "10", "--reason", "r" * 201],
            "--reason: Ensure this value has at most 200 characters (it has 201).",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(tenant, args, message):
    get_user_model().objects.create_user(username="boss@x.test", email="other@x.test")
    with pytest.raises(CommandError) as refused:
        _call(*args)
    assert str(refused.value) == message
    assert list(Tenant.objects.values_list("slug", flat=True)) == ["alice"]
    assert not ApiKey.objects.exists() and not tenant.credit_entries.exists()


def test_delete_tenant_with_no_terminal_to_confirm_on_asks_for_no_input(tenant, monkeypatch):
    monkeypatch.setattr("sys.stdin", StringIO(""))
    with pytest.raises(CommandError, match="pass --no-input. Nothing deleted."):
        _call("delete_tenant", tenant.slug)
    assert Tenant.objects.filter(pk=tenant.pk, is_active=True).exists()


def test_the_admins_revoke_action_counts_only_the_keys_it_revoked(tenant, admin_client):
    api_key_for(tenant, name="old")
    api_key_for(tenant, name="new")
    old = ApiKey.objects.get(name="old")
    api_key_revoke(api_key=old)
    response = admin_client.post(
        "/admin/accounts/apikey/",
        {"action": "revoke", "_selected_action": list(ApiKey.objects.values_list("pk", flat=True))},
        follow=True,
    )
    messages = [str(message) for message in get_messages(response.wsgi_request)]
    assert messages == ["Revoked 1 key. 1 was already revoked."]
    assert ApiKey.objects.get(name="old").revoked_at == old.revoked_at
    assert AuditEvent.objects.filter(action="deactivate").count() == 2


def _alices_workspace(tenant) -> None:
    """Something of every kind a workspace holds, among them a client and a project that an
    invoice and entries protect."""
    jobs = [JobFactory(tenant=tenant, status=Job.Status.COMPLETED) for _ in range(3)]
    JobEvent.objects.create(job=jobs[0], kind=JobEvent.Kind.STARTED)
    credits_debit(tenant=tenant, amount=5, reason="diagnostic job", job=jobs[0])
    project = ProjectFactory(tenant=tenant)
    hours(project, 2)
    material(project, 10)
    invoice = InvoiceFactory(tenant=tenant, project=project, pdf_job=jobs[1])
    line(invoice, "Work", 1, 100, 25)
    invoice.pdf_file.save("alice.pdf", ContentFile(b"%PDF-1.7"))
    image = GeneratedImage(tenant=tenant, prompt="a fox", width=1, height=1)
    image.file.save("fox.png", ContentFile(b"png"))
    _call("create_api_key", "--tenant", tenant.slug)


def _held_by(tenant_id: int) -> dict[str, int]:
    return {
        rel.related_model._meta.label: rel.related_model._base_manager.filter(
            **{rel.field.name: tenant_id}
        ).count()
        for rel in Tenant._meta.get_fields(include_hidden=True)
        if rel.one_to_many
    }


def test_delete_tenant_deletes_the_workspace_and_all_it_holds_a_batch_at_a_time(
    tenant, other_tenant, monkeypatch, django_capture_on_commit_callbacks
):
    # Batches of two, to see them at work: a thousand rows a batch let any workspace go, where
    # one delete() stops past 65,535 rows (see clean_queue's test).
    monkeypatch.setattr("core.deletion.DELETE_BATCH", 2)
    _alices_workspace(tenant)
    bobs = JobFactory(tenant=other_tenant)
    files = [
        *Invoice.objects.values_list("pdf_file", flat=True),
        *GeneratedImage.objects.values_list("file", flat=True),
    ]
    assert len(files) == 2 and all(default_storage.exists(name) for name in files)

    with django_capture_on_commit_callbacks(execute=True):
        output = _call("delete_tenant", "alice", "--no-input")

    assert "  deleted 3 jobs\n" in output
    assert "  deleted 1 invoice\n" in output and "  deleted 1 client\n" in output
    assert "  deleted 1 time entry\n" in output and "  deleted 1 project\n" in output
    assert output.endswith("Deleted workspace alice.\n")
    assert not Tenant.objects.filter(slug="alice").exists()
    assert set(_held_by(tenant.pk).values()) == {0}
    assert list(Job.objects.values_list("pk", flat=True)) == [bobs.pk]
    # Its files go with it: its invoices' PDFs and its images.
    assert not any(default_storage.exists(name) for name in files)


def test_delete_tenant_asks_first_and_refuses_an_unknown_workspace(tenant, monkeypatch):
    monkeypatch.setattr("builtins.input", lambda prompt: "no")
    with pytest.raises(CommandError, match="Nothing deleted"):
        _call("delete_tenant", "alice")
    assert Tenant.objects.get(slug="alice").is_active
    with pytest.raises(CommandError, match="No workspace 'nobody'"):
        _call("delete_tenant", "nobody", "--no-input")


@pytest.mark.parametrize(
    "command",
    [
        ["create_api_key", "--tenant", "nobody"],
        ["list_api_keys", "--tenant", "nobody"],
        ["deactivate_tenant", "nobody"],
        ["grant_credits", "nobody", "5"],
    ],
)
def test_a_command_naming_no_workspace_says_so_and_changes_nothing(tenant, command):
    with pytest.raises(CommandError, match="^No workspace 'nobody'.$"):
        _call(*command)
    assert not ApiKey.objects.exists() and Tenant.objects.get().is_active


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


def test_an_operator_deactivates_a_workspace_and_activates_it_again(tenant):
    key = api_key_for(tenant)
    job = JobFactory(tenant=tenant)
    me = APIClient()
    assert _call("deactivate_tenant", "alice") == (
        "Workspace alice is deactivated.\nCanceled 1 pending job (credits refunded).\n"
    )
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert me.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 401
    listed = _call("list_api_keys", "--tenant", "alice").splitlines()
    assert "workspace inactive" in listed[1]
    assert listed[-1] == "1 key of alice, 0 usable."
    assert _call("deactivate_tenant", "alice") == (
        "Workspace alice was already deactivated; nothing changed.\n"
    )
    # One its page had no time for, or submitted as it was deactivated.
    JobFactory.create_batch(2, tenant=tenant)
    assert _call("deactivate_tenant", "alice") == (
        "Workspace alice was already deactivated.\nCanceled 2 pending jobs (credits refunded).\n"
    )
    assert _call("deactivate_tenant", "alice", "--undo") == "Workspace alice is active.\n"
    job.refresh_from_db()
    assert job.status == Job.Status.CANCELED
    assert me.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer {key}").status_code == 200
    events = AuditEvent.objects.filter(resource_type="accounts.tenant").order_by("id")
    assert [(e.action, e.new_values, e.actor_label) for e in events] == [
        ("deactivate", {"is_active": False}, _operator_label()),
        ("update", {"is_active": True}, _operator_label()),
    ]
    with pytest.raises(CommandError, match="No workspace 'nobody'"):
        _call("deactivate_tenant", "nobody")


def test_a_keys_name_written_before_names_were_checked_cannot_act_on_the_terminal(tenant):
    api_key_for(tenant, name="x")
    key = ApiKey.objects.get(name="x")
    ApiKey.objects.filter(pk=key.pk).update(name="e\u001b[2J\nFAKE")
    job = JobFactory(tenant=tenant, api_key=key)

    listed = _call("list_api_keys", "--tenant", "alice")
    shown = _call("show_job", str(job.pk))

    for output in (listed, shown):
        assert "\u001b" not in output and "\nFAKE" not in output
        assert "e\\x1b[2J\\nFAKE" in output
    assert len(listed.splitlines()) == 3


def test_list_api_keys_shows_when_an_expiring_key_stops(tenant):
    from accounts.services import api_key_create

    api_key, _ = api_key_create(tenant=tenant, name="ci", expires_in_days=7)
    (row,) = _call("list_api_keys", "--tenant", "alice").splitlines()[1:2]
    assert f"active to {api_key.expires_at:%Y-%m-%d}" in row


def test_list_api_keys_shows_prefixes_and_states_never_keys(tenant, other_tenant):
    kept = api_key_for(tenant, name="ci")
    api_key_for(tenant, name="old")
    api_key_revoke(api_key=ApiKey.objects.get(name="old"))
    api_key_for(other_tenant, name="theirs")
    lines = _call("list_api_keys", "--tenant", "alice").splitlines()
    assert lines[0].split() == ["prefix", "name", "role", "state", "created", "last", "used"]
    assert [line.split()[:4] for line in lines[1:3]] == [
        [ApiKey.objects.get(name="old").prefix, "old", "admin", "revoked"],
        [kept[4:12], "ci", "admin", "active"],
    ]
    assert lines[-1] == "2 keys of alice, 1 usable."
    assert kept not in "\n".join(lines)


def test_list_api_keys_prints_its_times_in_time_zone_and_names_it(tenant, settings):
    settings.TIME_ZONE = "Europe/Paris"
    api_key_for(tenant, name="ci")
    late_evening = datetime(2026, 1, 15, 23, 30, tzinfo=UTC)
    ApiKey.objects.filter(name="ci").update(
        created_at=late_evening,
        last_used_at=late_evening + timedelta(hours=1),
        expires_at=datetime(2099, 1, 15, 23, 30, tzinfo=UTC),
    )
    (row,) = _call("list_api_keys", "--tenant", "alice").splitlines()[1:2]
    assert "active to 2099-01-16 CET" in row
    assert row.endswith(" 2026-01-16 00:30 CET 2026-01-16 01:30 CET")
