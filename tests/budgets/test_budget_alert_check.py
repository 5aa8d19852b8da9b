from decimal import Decimal

import pytest

from accounts.models import AuditEvent, Notification
from budgets.models import BudgetAlert, Project, ProjectBudget
from budgets.services import budget_alert_check
from budgets.tasks import budget_alert_check as budget_alert_check_task
from jobs.models import TaskRun
from tests.budgets.factories import ProjectBudgetFactory, ProjectFactory, hours, material
from tests.concurrency import at_once
from tests.factories import MembershipFactory, UserFactory


def _budget(tenant, thresholds, **budgets):
    project = ProjectFactory(tenant=tenant)
    ProjectBudgetFactory(project=project, alert_thresholds=thresholds, **budgets)
    return project


def _threshold(kind, percentage, notify=True):
    return {"type": kind, "percentage": percentage, "notify": notify}


@pytest.mark.parametrize(
    ("kind", "budget", "spend", "crossed"),
    [
        ("hours", {"hours_budget": Decimal("10")}, ("hours", 8), True),
        ("hours", {"hours_budget": Decimal("10")}, ("hours", 7.9), False),
        ("material", {"material_budget": Decimal("1000")}, ("material", 800), True),
        ("material", {"material_budget": Decimal("1000")}, ("material", 799.99), False),
        ("total", {"total_budget": Decimal("1000")}, ("hours", 8), True),
        ("total", {"total_budget": Decimal("1000")}, ("hours", 7), False),
    ],
)
def test_each_kind_of_threshold(tenant, tenant_admin, kind, budget, spend, crossed):
    project = _budget(tenant, [_threshold(kind, 80)], **budget)
    (hours if spend[0] == "hours" else material)(project, spend[1])
    counts = budget_alert_check()
    assert counts["alerts_created"] == int(crossed)
    alerts = BudgetAlert.objects.filter(project=project, status="active")
    assert alerts.count() == int(crossed)
    if crossed:
        assert alerts.get().type == kind
        assert Notification.objects.filter(user=tenant_admin, kind="budget_alert").count() == 1


def test_two_thresholds_crossed_at_once_raise_two_alerts(tenant, tenant_admin):
    project = _budget(
        tenant, [_threshold("hours", 50), _threshold("hours", 80)], hours_budget=Decimal("10")
    )
    hours(project, 9)
    assert budget_alert_check()["alerts_created"] == 2
    assert sorted(BudgetAlert.objects.values_list("threshold", flat=True)) == [
        Decimal("50"),
        Decimal("80"),
    ]


def test_a_second_run_raises_nothing_new_and_notifies_no_one(tenant, tenant_admin):
    project = _budget(tenant, [_threshold("hours", 80)], hours_budget=Decimal("10"))
    hours(project, 9)
    budget_alert_check()
    counts = budget_alert_check()
    assert counts["alerts_created"] == 0
    assert BudgetAlert.objects.count() == 1
    assert Notification.objects.count() == 1


def test_a_threshold_without_notify_raises_nothing(tenant, tenant_admin):
    project = _budget(tenant, [_threshold("hours", 80, notify=False)], hours_budget=Decimal("10"))
    hours(project, 9)
    assert budget_alert_check()["alerts_created"] == 0


def test_lowering_usage_or_raising_the_budget_resolves_the_alert(tenant, tenant_admin):
    project = _budget(tenant, [_threshold("hours", 80)], hours_budget=Decimal("10"))
    entry = hours(project, 9)
    budget_alert_check()
    entry.delete()
    assert budget_alert_check()["alerts_resolved"] == 1
    alert = BudgetAlert.objects.get()
    assert alert.status == "resolved" and alert.resolved_at
    assert Notification.objects.get().resolved_at is not None
    hours(project, 9)
    budget_alert_check()
    project.budget.hours_budget = Decimal("100")
    project.budget.save()
    assert budget_alert_check()["alerts_resolved"] == 1
    # Crossing again later raises a fresh alert.
    hours(project, 80)
    assert budget_alert_check()["alerts_created"] == 1


def test_a_changed_budget_resolves_the_alert_and_raises_one_against_the_new_budget(
    tenant, tenant_admin
):
    project = _budget(tenant, [_threshold("hours", 80)], hours_budget=Decimal("40"))
    hours(project, 34)
    budget_alert_check()
    first = BudgetAlert.objects.get()
    assert (first.current_percentage, first.budget_amount) == (Decimal("85.00"), Decimal("40"))

    project.budget.hours_budget = Decimal("30")
    project.budget.save()
    assert budget_alert_check() | {"checked": None} == {
        "checked": None,
        "alerts_created": 1,
        "alerts_resolved": 1,
        "alerts_updated": 0,
        "failed": 0,
    }
    first.refresh_from_db()
    assert first.status == "resolved"
    current = BudgetAlert.objects.get(status="active")
    assert (current.current_percentage, current.budget_amount) == (Decimal("113.33"), Decimal("30"))
    notices = Notification.objects.filter(kind="budget_alert").order_by("created_at")
    assert [notice.resolved_at is None for notice in notices] == [False, True]
    assert "113.33%" in notices[1].title
    assert budget_alert_check()["alerts_created"] == 0


def test_an_alert_still_crossed_shows_the_usage_of_the_last_check(tenant, tenant_admin):
    project = _budget(tenant, [_threshold("hours", 50)], hours_budget=Decimal("10"))
    hours(project, 6)
    budget_alert_check()
    hours(project, 6)

    assert budget_alert_check()["alerts_updated"] == 1

    alert = BudgetAlert.objects.get()
    assert (alert.status, alert.current_percentage) == ("active", Decimal("120.00"))
    assert Notification.objects.filter(kind="budget_alert").count() == 1
    assert budget_alert_check()["alerts_updated"] == 0


def test_a_project_that_fails_keeps_the_alerts_it_had(tenant, tenant_admin):
    project = _budget(
        tenant,
        [_threshold("hours", 80), _threshold("material", 90)],
        hours_budget=Decimal("10"),
        material_budget=Decimal("5"),
    )
    hours(project, 9)
    budget_alert_check()
    project.budget.material_budget = Decimal("0")  # only the admin can set it: the check fails
    project.budget.save()
    material(project, 1)
    counts = budget_alert_check()
    assert (counts["failed"], counts["alerts_resolved"]) == (1, 0)
    assert BudgetAlert.objects.get().status == "active"
    assert Notification.objects.get(kind="budget_alert").resolved_at is None


def test_usage_in_the_billions_of_percent_is_recorded_and_stops_no_other_project(
    tenant, tenant_admin
):
    tiny = _budget(tenant, [_threshold("material", 80)], material_budget=Decimal("0.01"))
    material(tiny, "1000000.00")
    fine = _budget(tenant, [_threshold("hours", 80)], hours_budget=Decimal("10"))
    hours(fine, 9)
    assert budget_alert_check()["alerts_created"] == 2
    alert = BudgetAlert.objects.get(project=tiny)
    assert alert.current_percentage == Decimal("10000000000.00")
    assert BudgetAlert.objects.filter(project=fine, status="active").exists()


def test_archived_projects_and_projects_without_a_budget_are_skipped(tenant, tenant_admin):
    archived = _budget(tenant, [_threshold("hours", 10)], hours_budget=Decimal("1"))
    archived.status = Project.Status.ARCHIVED
    archived.save()
    hours(archived, 5)
    hours(ProjectFactory(tenant=tenant), 500)
    counts = budget_alert_check()
    assert counts == {
        "checked": 0,
        "alerts_created": 0,
        "alerts_resolved": 0,
        "alerts_updated": 0,
        "failed": 0,
    }
    assert not BudgetAlert.objects.exists()


def test_a_project_that_cannot_be_checked_is_logged_and_the_others_still_are(tenant, tenant_admin):
    broken = _budget(tenant, [_threshold("hours", 80)], hours_budget=Decimal("0"))
    hours(broken, 1)
    fine = _budget(tenant, [_threshold("hours", 80)], hours_budget=Decimal("10"))
    hours(fine, 9)
    counts = budget_alert_check()
    assert (counts["failed"], counts["alerts_created"]) == (1, 1)
    event = AuditEvent.objects.get(resource_id=str(broken.pk))
    assert event.metadata["event"] == "budget_check_failed"
    assert not Notification.objects.filter(kind="budget_check_failures").exists()


def test_a_zero_budget_fails_the_check_only_when_a_threshold_watches_it_and_says_so(
    tenant, tenant_admin
):
    watched = _budget(tenant, [_threshold("material", 80)], material_budget=Decimal("0"))
    unwatched = _budget(
        tenant, [_threshold("hours", 80)], hours_budget=Decimal("10"), material_budget=Decimal("0")
    )
    for project in (watched, unwatched):
        hours(project, 9)
        material(project, 1)

    counts = budget_alert_check()

    assert (counts["failed"], counts["alerts_created"]) == (1, 1)
    assert BudgetAlert.objects.get().project == unwatched
    event = AuditEvent.objects.get(metadata__event="budget_check_failed")
    assert event.resource_id == str(watched.pk)
    assert event.metadata["error"] == (
        "Its material budget is 0, of which no percentage can be computed: set it above 0, "
        "or clear it."
    )


def test_three_failing_projects_alert_the_admins(tenant, tenant_admin):
    for _ in range(3):
        hours(_budget(tenant, [_threshold("hours", 80)], hours_budget=Decimal("0")), 1)
    assert budget_alert_check()["failed"] == 3
    alert = Notification.objects.get(user=tenant_admin, kind="budget_check_failures")
    assert "3" in alert.title


def _failing(tenant) -> Project:
    project = _budget(tenant, [_threshold("hours", 80)], hours_budget=Decimal("0"))
    hours(project, 1)
    return project


def test_failing_projects_alert_again_after_a_run_without_failures(tenant, tenant_admin):
    staff = UserFactory(username="root@example.com", is_staff=True, is_superuser=True)
    broken = [_failing(tenant) for _ in range(3)]
    budget_alert_check()
    budget_alert_check()
    alerts = Notification.objects.filter(kind="budget_check_failures")
    assert alerts.filter(user=tenant_admin).count() == 1  # still open: not sent twice
    assert alerts.filter(user=staff).count() == 1

    ProjectBudget.objects.filter(project__in=broken).update(hours_budget=Decimal("100"))
    assert budget_alert_check()["failed"] == 0
    assert not alerts.filter(resolved_at__isnull=True).exists()

    for _ in range(4):
        _failing(tenant)
    assert budget_alert_check()["failed"] == 4
    assert alerts.filter(user=tenant_admin).count() == 2
    assert alerts.filter(user=staff).count() == 2
    assert "4" in alerts.get(user=tenant_admin, resolved_at__isnull=True).title


def test_a_workspace_whose_projects_no_longer_fail_has_its_failures_alert_closed(
    tenant, tenant_admin, other_tenant
):
    bob = MembershipFactory(tenant=other_tenant, user=UserFactory(username="bob@example.com")).user
    alices = _failing(tenant)
    for _ in range(3):
        _failing(other_tenant)
    budget_alert_check()
    ProjectBudget.objects.filter(project=alices).update(hours_budget=Decimal("100"))
    assert budget_alert_check()["failed"] == 3
    alerts = Notification.objects.filter(kind="budget_check_failures")
    assert alerts.get(user=tenant_admin).resolved_at is not None
    assert alerts.get(user=bob).resolved_at is None


def test_a_run_skipped_for_the_lock_leaves_the_failures_alert_open(tenant, tenant_admin):
    from core.locks import named_lock

    broken = [_failing(tenant) for _ in range(3)]
    budget_alert_check_task()
    ProjectBudget.objects.filter(project__in=broken).update(hours_budget=Decimal("100"))
    with named_lock("budget_alert_check", ttl=60):
        assert budget_alert_check_task() == {}
    alert = Notification.objects.get(user=tenant_admin, kind="budget_check_failures")
    assert alert.resolved_at is None


def test_the_check_uses_a_fixed_number_of_queries(
    tenant, tenant_admin, django_assert_max_num_queries
):
    for _ in range(30):
        hours(_budget(tenant, [_threshold("hours", 200)], hours_budget=Decimal("10")), 1)
    with django_assert_max_num_queries(6):
        budget_alert_check()


@pytest.mark.django_db(transaction=True)
def test_two_checks_started_at_the_same_moment_raise_each_alert_once(tenant, tenant_admin):
    for _ in range(5):
        hours(
            _budget(
                tenant,
                [_threshold("hours", 50), _threshold("hours", 80)],
                hours_budget=Decimal("10"),
            ),
            9,
        )
    assert not [error for error in at_once(budget_alert_check, 2) if isinstance(error, Exception)]
    assert BudgetAlert.objects.filter(status="active").count() == 10
    assert Notification.objects.filter(kind="budget_alert").count() == 10


def test_the_task_records_its_run_and_skips_when_another_holds_the_lock(tenant, tenant_admin):
    from core.locks import named_lock

    hours(_budget(tenant, [_threshold("hours", 50)], hours_budget=Decimal("10")), 9)
    assert budget_alert_check_task()["alerts_created"] == 1
    run = TaskRun.objects.get(name="budget_alert_check")
    assert run.outcome == "ok" and run.counts["alerts_created"] == 1
    with named_lock("budget_alert_check", ttl=60):
        assert budget_alert_check_task() == {}
    assert TaskRun.objects.filter(name="budget_alert_check", outcome="skipped").count() == 1


@pytest.fixture
def other_admin(other_tenant):
    return MembershipFactory(tenant=other_tenant, user=UserFactory(username="bob@example.com")).user


def test_a_long_project_name_and_a_huge_percentage_give_a_title_that_fits(
    tenant, tenant_admin, other_tenant, other_admin
):
    # Projects are checked by name: this workspace's comes first.
    long_name = _budget(tenant, [_threshold("material", 1000)], material_budget=Decimal("0.01"))
    long_name.name = "0" * 200
    long_name.save()
    material(long_name, "9999999999.99")
    hours(_budget(other_tenant, [_threshold("hours", 80)], hours_budget=Decimal("10")), 9)

    assert budget_alert_check()["alerts_created"] == 2

    title = Notification.objects.get(user=tenant_admin, kind="budget_alert").title
    assert len(title) <= 255
    assert title.startswith("0" * 100)
    assert title.endswith(": material budget at 99999999999900.00% (threshold 1000.00%)")
    assert Notification.objects.filter(user=other_admin, kind="budget_alert").exists()


@pytest.mark.django_db(transaction=True)
def test_a_line_break_in_a_project_name_is_notified_on_one_line(
    tenant, tenant_admin, other_tenant, other_admin, mailoutbox
):
    broken = _budget(tenant, [_threshold("hours", 80)], hours_budget=Decimal("10"))
    broken.name = "A\r\nsite\n"
    broken.save()
    hours(broken, 9)
    hours(_budget(other_tenant, [_threshold("hours", 80)], hours_budget=Decimal("10")), 9)

    assert budget_alert_check()["alerts_created"] == 2

    title = "A site: hours budget at 90.00% (threshold 80.00%)"
    assert Notification.objects.get(user=tenant_admin, kind="budget_alert").title == title
    assert Notification.objects.filter(user=other_admin, kind="budget_alert").exists()
    subjects = {email.to[0]: email.subject for email in mailoutbox}
    assert subjects["alice@example.com"] == f"[Offload] {title}"
    assert "bob@example.com" in subjects


def test_a_workspace_whose_notification_fails_is_notified_by_the_next_run(
    tenant, tenant_admin, other_tenant, other_admin, monkeypatch, caplog
):
    from budgets import services

    failing = _budget(tenant, [_threshold("hours", 80)], hours_budget=Decimal("10"))
    failing.name = "A project"
    failing.save()
    hours(failing, 9)
    hours(_budget(other_tenant, [_threshold("hours", 80)], hours_budget=Decimal("10")), 9)
    notify = services.notify_admins_of_new_alerts

    def notify_failing_for_alice(*, tenant, **kwargs):
        if tenant.slug == "alice":
            raise RuntimeError("mail queue unavailable")
        return notify(tenant=tenant, **kwargs)

    monkeypatch.setattr(services, "notify_admins_of_new_alerts", notify_failing_for_alice)
    assert budget_alert_check()["alerts_created"] == 1
    assert Notification.objects.filter(user=other_admin, kind="budget_alert").exists()
    assert not BudgetAlert.objects.filter(project=failing).exists()
    assert "Could not raise the 1 budget alerts of workspace" in caplog.text

    monkeypatch.setattr(services, "notify_admins_of_new_alerts", notify)
    assert budget_alert_check()["alerts_created"] == 1
    assert BudgetAlert.objects.filter(project=failing, status="active").exists()
    assert Notification.objects.filter(user=tenant_admin, kind="budget_alert").exists()
