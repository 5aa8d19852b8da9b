"""The admin's actions call the services and say what they did."""

import re
from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.utils import timezone

from accounts.models import ApiKey, AuditEvent, CreditEntry, Tenant
from accounts.services import api_key_create
from budgets.models import BudgetAlert
from core.locks import named_lock
from generations.models import Deck
from invoices.models import Invoice
from jobs.models import Job, JobEvent
from sharelinks.models import PublicLink
from sharelinks.services import share_link_create
from tests.budgets.factories import ProjectBudgetFactory, ProjectFactory, hours
from tests.invoices.factories import InvoiceFactory, line
from tests.jobs.factories import JobFactory


def _act(admin_client, changelist: str, action: str, objects) -> list[str]:
    response = admin_client.post(
        changelist,
        {"action": action, "_selected_action": [str(obj.pk) for obj in objects]},
        follow=True,
    )
    assert response.status_code == 200
    return [str(message) for message in get_messages(response.wsgi_request)]


def test_job_actions_cancel_retry_and_requeue_and_report_refusals(admin_client, tenant):
    pending = JobFactory(tenant=tenant)
    done = JobFactory(tenant=tenant, status=Job.Status.COMPLETED)
    said = _act(admin_client, "/admin/jobs/job/", "cancel_jobs", [pending, done])
    assert "Canceled 1 job(s)." in said
    assert any(text.startswith(f"Job {done.pk}: The job is completed") for text in said)
    pending.refresh_from_db()
    assert pending.status == Job.Status.CANCELED
    canceled = pending.events.get(kind=JobEvent.Kind.CANCELED)
    assert (canceled.message, canceled.actor) == ("CANCELED: Canceled by an operator.", "admin")

    assert "Retried 1 job(s)." in _act(admin_client, "/admin/jobs/job/", "retry_jobs", [pending])
    assert Job.objects.filter(retry_of=pending, status=Job.Status.PENDING).exists()
    assert "Requeued 1 job(s)." in _act(admin_client, "/admin/jobs/job/", "requeue_jobs", [pending])
    pending.refresh_from_db()
    assert (pending.status, pending.attempts) == (Job.Status.PENDING, 0)


def test_the_budget_check_button_checks_every_project_and_says_what_it_found(admin_client, tenant):
    project = ProjectFactory(tenant=tenant)
    ProjectBudgetFactory(
        project=project, hours_budget=10, alert_thresholds=[{"type": "hours", "percentage": 50}]
    )
    hours(project, 6)
    listed = admin_client.get("/admin/budgets/project/").content.decode()
    assert 'action="/admin/budgets/project/run-budget-check/"' in listed

    response = admin_client.post("/admin/budgets/project/run-budget-check/", follow=True)

    said = [str(message) for message in response.context["messages"]]
    assert said == [
        "Budget check: projects checked: 1, alerts raised: 1, updated: 0, resolved: 0,"
        " projects failed: 0."
    ]
    assert BudgetAlert.objects.filter(project=project, status="active").count() == 1


def test_the_budget_check_button_says_it_checked_nothing_while_another_run_holds_the_lock(
    admin_client, tenant
):
    project = ProjectFactory(tenant=tenant)
    ProjectBudgetFactory(
        project=project, hours_budget=10, alert_thresholds=[{"type": "hours", "percentage": 50}]
    )
    hours(project, 6)

    # Beat's run, or one started with run_budget_check, in progress.
    with named_lock("budget_alert_check", ttl=60):
        response = admin_client.post("/admin/budgets/project/run-budget-check/", follow=True)

    said = [(message.level_tag, str(message)) for message in response.context["messages"]]
    assert said == [
        (
            "warning",
            "Nothing was checked: another budget check is running and holds its lock (one killed"
            " midway holds it 14 minutes at most). Run this again once it has ended.",
        )
    ]
    assert not BudgetAlert.objects.exists()


def test_link_key_and_invoice_actions_call_their_services(admin_client, tenant):
    deck = Deck.objects.create(tenant=tenant, title="Deck")
    link, _ = share_link_create(tenant=tenant, resource_type="deck", resource_id=str(deck.pk))
    assert _act(admin_client, "/admin/sharelinks/publiclink/", "deactivate", [link]) == [
        "Deactivated 1 link."
    ]
    link.refresh_from_db()
    assert (link.is_active, link.deactivated_reason) == (False, PublicLink.Reason.REVOKED)

    api_key, _ = api_key_create(tenant=tenant)
    _act(admin_client, "/admin/accounts/apikey/", "revoke", [api_key])
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is not None

    invoice = InvoiceFactory(tenant=tenant)
    line(invoice, "Work", 1, 100, 25)
    _act(admin_client, "/admin/invoices/invoice/", "render_pdf", [invoice])
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.PENDING
    assert invoice.pdf_job.type == "invoice_pdf"


def _staff_who_may_only_view(client, *models: str):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    user = UserFactory(username="viewer@example.com", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=[f"view_{model}" for model in models])
    )
    client.force_login(user)
    return client


def test_staff_who_may_only_view_run_no_action_that_changes_anything(client, tenant):
    job = JobFactory(tenant=tenant)
    api_key, _ = api_key_create(tenant=tenant, name="ci")
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    link, _ = share_link_create(tenant=tenant, resource_type="deck", resource_id=deck.pk)
    invoice = InvoiceFactory(tenant=tenant)
    project = ProjectFactory(tenant=tenant)
    ProjectBudgetFactory(
        project=project, hours_budget=10, alert_thresholds=[{"type": "hours", "percentage": 50}]
    )
    hours(project, 6)
    viewer = _staff_who_may_only_view(client, "job", "apikey", "publiclink", "invoice", "project")
    for changelist, action, obj in [
        ("/admin/jobs/job/", "cancel_jobs", job),
        ("/admin/jobs/job/", "retry_jobs", job),
        ("/admin/jobs/job/", "requeue_jobs", job),
        ("/admin/accounts/apikey/", "revoke", api_key),
        ("/admin/sharelinks/publiclink/", "deactivate", link),
        ("/admin/invoices/invoice/", "render_pdf", invoice),
    ]:
        page = viewer.get(changelist).content.decode()
        assert page and f'value="{action}"' not in page, action
        said = _act(viewer, changelist, action, [obj])
        assert set(said) <= {"No action selected."}, (action, said)
    assert "run-budget-check" not in viewer.get("/admin/budgets/project/").content.decode()
    assert viewer.post("/admin/budgets/project/run-budget-check/").status_code == 403
    assert not BudgetAlert.objects.filter(project=project).exists()
    assert Job.objects.get(pk=job.pk).status == Job.Status.PENDING
    assert ApiKey.objects.get(pk=api_key.pk).revoked_at is None
    assert PublicLink.objects.get(pk=link.pk).is_active


def test_staff_who_may_only_view_the_schedules_can_neither_pause_nor_run_them(client, db):
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission
    from django_celery_beat.models import PeriodicTask

    changelist = "/admin/django_celery_beat/periodictask/"
    schedules = list(PeriodicTask.objects.filter(enabled=True))
    assert schedules
    viewer = _staff_who_may_only_view(client, "periodictask")
    page = viewer.get(changelist).content.decode()
    for action in ("enable_tasks", "disable_tasks", "toggle_tasks", "run_tasks"):
        assert f'value="{action}"' not in page, action
        said = _act(viewer, changelist, action, schedules)
        assert set(said) <= {"No action selected."}, (action, said)
    assert PeriodicTask.objects.filter(enabled=True).count() == len(schedules)

    # Staff who may change them still pause them there.
    get_user_model().objects.get(username="viewer@example.com").user_permissions.add(
        Permission.objects.get(codename="change_periodictask")
    )
    said = _act(viewer, changelist, "disable_tasks", schedules)
    assert said == [f"{len(schedules)} tasks were successfully disabled"]
    assert not PeriodicTask.objects.filter(enabled=True).exists()


def test_staff_who_may_only_view_login_attempts_cannot_clean_them_up(client, db):
    from axes.models import AccessAttempt
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    changelist = "/admin/axes/accessattempt/"
    # Logged in first: a login cleans up the expired attempts itself.
    viewer = _staff_who_may_only_view(client, "accessattempt")
    expired, live = (
        AccessAttempt.objects.create(
            username=username,
            ip_address="203.0.113.5",
            user_agent="curl/8.5.0",
            failures_since_start=5,
        )
        for username in ["old@example.com", "new@example.com"]
    )
    # Apart: a new attempt's time is always now.
    AccessAttempt.objects.filter(pk=expired.pk).update(
        attempt_time=timezone.now() - timedelta(days=1)
    )
    page = viewer.get(changelist)
    assert page.status_code == 200
    assert 'value="cleanup_expired_attempts"' not in page.content.decode()
    said = _act(viewer, changelist, "cleanup_expired_attempts", [live])
    assert set(said) <= {"No action selected."}
    assert AccessAttempt.objects.count() == 2

    # Staff who may delete them still clean up there.
    get_user_model().objects.get(username="viewer@example.com").user_permissions.add(
        Permission.objects.get(codename="delete_accessattempt")
    )
    said = _act(viewer, changelist, "cleanup_expired_attempts", [live])
    assert said == ["Cleaned up 1 expired access attempts."]
    assert list(AccessAttempt.objects.values_list("pk", flat=True)) == [live.pk]


def test_a_jobs_page_shows_its_latest_events_to_whoever_may_see_the_job(client, tenant):
    job = JobFactory(tenant=tenant)
    JobEvent.objects.create(job=job, attempt=1, kind=JobEvent.Kind.STARTED, message="On w1.")

    page = _staff_who_may_only_view(client, "job").get(f"/admin/jobs/job/{job.pk}/change/")

    assert page.status_code == 200
    assert "On w1." in page.content.decode()
    # The line linking to Job events is for staff who may open that list.
    assert "events</a> in Job events" not in page.content.decode()


def test_staff_are_linked_only_to_the_lists_they_may_open(client, tenant):
    from django.contrib.auth.models import Permission

    invoice = InvoiceFactory(tenant=tenant)
    invoice_url = f"/admin/invoices/invoice/{invoice.pk}/change/"
    viewer = _staff_who_may_only_view(client, "job", "invoice")

    invoice_page = viewer.get(invoice_url).content.decode()
    dashboard = viewer.get("/admin/jobs/job/dashboard/").content.decode()

    assert (
        "renders stored" not in invoice_page and "/admin/accounts/auditevent/" not in invoice_page
    )
    assert "budget-alert-check" not in dashboard and "/admin/jobs/taskrun/" not in dashboard
    user = viewer.get(invoice_url).wsgi_request.user
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_auditevent", "view_taskrun"])
    )
    assert "renders stored" in viewer.get(invoice_url).content.decode()
    assert "/admin/jobs/taskrun/?name=" in viewer.get("/admin/jobs/job/dashboard/").content.decode()


def _linked_lists(page) -> list[str]:
    return re.findall(r'href="(/admin/[\w/]+/\?[^"]+)"', page.content.decode())


def test_a_workspaces_and_a_keys_pages_link_only_the_lists_staff_may_open(client, tenant):
    from django.contrib.auth.models import Permission

    api_key, _ = api_key_create(tenant=tenant, name="ci")
    viewer = _staff_who_may_only_view(client, "tenant", "apikey", "job")
    workspace_page = f"/admin/accounts/tenant/{tenant.pk}/change/"
    key_page = f"/admin/accounts/apikey/{api_key.pk}/change/"

    for page in (workspace_page, key_page):
        opened = viewer.get(page)
        assert opened.status_code == 200
        linked = _linked_lists(opened)
        assert linked and all(viewer.get(url).status_code == 200 for url in linked), linked
    assert "its audit events" not in viewer.get(key_page).content.decode()
    assert not {"members", "credits", "audit log"} & set(
        re.findall(r'\?tenant=\d+">([^<]+)</a>', viewer.get(workspace_page).content.decode())
    )

    user = viewer.get(key_page).wsgi_request.user
    user.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    assert "its audit events" in viewer.get(key_page).content.decode()
    assert (
        f'href="/admin/accounts/auditevent/?tenant={tenant.pk}">audit log</a>'
        in viewer.get(workspace_page).content.decode()
    )


def test_worker_rows_are_deleted_only_by_staff_allowed_to(client, db):
    from jobs.models import WorkerSeen

    worker = WorkerSeen.objects.create(hostname="w1@host", last_seen_at=timezone.now())
    viewer = _staff_who_may_only_view(client, "workerseen")

    assert viewer.get(f"/admin/jobs/workerseen/{worker.pk}/delete/").status_code == 403
    assert (
        viewer.post(f"/admin/jobs/workerseen/{worker.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert WorkerSeen.objects.filter(pk=worker.pk).exists()


def test_the_queue_dashboard_is_for_staff_who_may_see_the_jobs(client, db):
    staff = _staff_who_may_only_view(client)
    assert staff.get("/admin/jobs/job/dashboard/").status_code == 403
    staff = _staff_who_may_only_view(client, "job")
    assert staff.get("/admin/jobs/job/dashboard/").status_code == 200


def test_the_queue_dashboard_shows_alerts_and_schedules_only_to_staff_who_may_view_them(
    client, tenant, tenant_admin
):
    from django.contrib.auth.models import Permission

    from accounts.models import Notification
    from accounts.services import notify_admins
    from core.scheduling import schedules_sync
    from jobs.models import TaskRun

    notify_admins(
        tenant=tenant,
        kind=Notification.Kind.BUDGET_ALERT,
        title="Website redesign reached 80% of its budget",
        alert_key="budget:1:80",
    )
    schedules_sync()
    TaskRun.objects.create(name="budget_alert_check", started_at=timezone.now(), outcome="ok")
    viewer = _staff_who_may_only_view(client, "job")
    user = viewer.get("/admin/jobs/job/dashboard/").wsgi_request.user

    dashboard = viewer.get("/admin/jobs/job/dashboard/").content.decode()
    assert "Queues" in dashboard
    assert "Website redesign" not in dashboard and "Open alerts" not in dashboard
    assert "budget-alert-check" not in dashboard and "Schedules" not in dashboard

    user.user_permissions.add(Permission.objects.get(codename="view_notification"))
    dashboard = viewer.get("/admin/jobs/job/dashboard/").content.decode()
    assert "Website redesign reached 80% of its budget (Alice&#x27;s workspace)" in dashboard
    assert "budget-alert-check" not in dashboard

    user.user_permissions.add(Permission.objects.get(codename="view_taskrun"))
    dashboard = viewer.get("/admin/jobs/job/dashboard/").content.decode()
    assert '<a href="/admin/jobs/taskrun/?name=budget_alert_check">budget-alert-check</a>' in (
        dashboard
    )


@pytest.mark.parametrize(
    ("changelist", "action", "make"),
    [
        ("/admin/jobs/job/", "delete_selected", lambda tenant: JobFactory(tenant=tenant)),
        (
            "/admin/generations/deck/",
            "delete_selected",
            lambda tenant: Deck.objects.create(tenant=tenant, title="Deck"),
        ),
        (
            "/admin/sharelinks/publiclink/",
            "deactivate",
            lambda tenant: share_link_create(
                tenant=tenant,
                resource_type="deck",
                resource_id=str(Deck.objects.create(tenant=tenant, title="D").pk),
            )[0],
        ),
        (
            "/admin/invoices/invoice/",
            "render_pdf",
            lambda tenant: InvoiceFactory(tenant=tenant),
        ),
        ("/admin/accounts/apikey/", "revoke", lambda tenant: api_key_create(tenant=tenant)[0]),
    ],
    ids=["delete jobs", "delete decks", "deactivate links", "render PDFs", "revoke keys"],
)
def test_an_action_on_more_objects_than_a_request_can_handle_changes_none(
    admin_client, tenant, monkeypatch, changelist, action, make
):
    monkeypatch.setattr("accounts.admin.ACTION_MAX_OBJECTS", 2)
    objects = [make(tenant) for _ in range(3)]
    model = type(objects[0])
    before = list(model.objects.order_by("pk").values())

    # "Select all", then the confirmation a deletion asks for.
    for confirm in ({}, {"post": "yes"}):
        response = admin_client.post(
            changelist,
            {
                "action": action,
                "select_across": "1",
                "index": "0",
                **confirm,
                "_selected_action": [str(objects[0].pk)],
            },
            follow=True,
        )
        said = [str(message) for message in get_messages(response.wsgi_request)]
        assert len(said) == 1
        assert said[0].startswith(
            f"3 {model._meta.verbose_name_plural} are selected: an action here changes at most "
            "2 at once, so none was changed. Narrow the list with its filters"
        )
    assert list(model.objects.order_by("pk").values()) == before
    assert not Job.objects.filter(type="invoice_pdf").exists()


def test_a_started_job_is_deleted_with_its_history(admin_client, tenant):
    job = JobFactory(tenant=tenant, status=Job.Status.FAILED, attempts=1)
    JobEvent.objects.create(job=job, attempt=1, kind=JobEvent.Kind.STARTED)
    page = admin_client.get(f"/admin/jobs/job/{job.pk}/delete/").content.decode()
    assert "Are you sure" in page and "permission" not in page

    response = admin_client.post(f"/admin/jobs/job/{job.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Job.objects.exists() and not JobEvent.objects.exists()


def test_a_workspace_made_in_the_admin_with_credits_is_deleted_there(admin_client):
    created = admin_client.post(
        "/admin/accounts/tenant/add/",
        {
            "name": "Tiny",
            "slug": "tiny",
            "is_active": "on",
            "grant_credits": "5",
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "new-members-TOTAL_FORMS": "0",
            "new-members-INITIAL_FORMS": "0",
        },
    )
    assert created.status_code == 302
    tiny = Tenant.objects.get(slug="tiny")
    assert tiny.audit_events.exists() and tiny.credit_entries.exists()

    response = admin_client.post(f"/admin/accounts/tenant/{tiny.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not Tenant.objects.filter(slug="tiny").exists()
    assert not CreditEntry.objects.exists()
    assert not AuditEvent.objects.filter(tenant_id=tiny.pk).exists()
