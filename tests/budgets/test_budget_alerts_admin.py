"""Budget alerts in the admin: the budget check raises and resolves them, staff read them."""

from decimal import Decimal

from accounts.models import Notification, Tenant
from budgets.models import BudgetAlert
from budgets.services import budget_alert_check
from tests.budgets.factories import ProjectBudgetFactory, ProjectFactory, hours

ALERTS = "/admin/budgets/budgetalert/"


def _crossed(tenant) -> BudgetAlert:
    project = ProjectFactory(tenant=tenant)
    ProjectBudgetFactory(
        project=project,
        hours_budget=Decimal("10"),
        alert_thresholds=[{"type": "hours", "percentage": 80}],
    )
    hours(project, 9)
    budget_alert_check()
    return BudgetAlert.objects.get(project=project)


def test_an_alert_resolved_by_hand_is_refused_and_the_check_raises_no_second_one(
    admin_client, tenant, tenant_admin
):
    alert = _crossed(tenant)
    page = f"{ALERTS}{alert.pk}/change/"

    opened = admin_client.get(page)
    assert opened.status_code == 200
    assert set(opened.context["adminform"].form.fields) == set()
    refused = admin_client.post(
        page,
        {
            "tenant": tenant.pk,
            "project": alert.project_id,
            "type": "hours",
            "threshold": "80",
            "current_percentage": "90",
            "status": "resolved",
            "created_at_0": "2026-01-01",
            "created_at_1": "00:00:00",
        },
    )
    assert refused.status_code == 403
    budget_alert_check()

    alert.refresh_from_db()
    assert (alert.status, alert.resolved_at) == ("active", None)
    assert BudgetAlert.objects.count() == 1
    assert Notification.objects.get(kind="budget_alert").resolved_at is None


def test_alerts_are_neither_added_nor_deleted_in_the_admin_but_go_with_their_workspace(
    admin_client, tenant, tenant_admin
):
    alert = _crossed(tenant)

    assert admin_client.get(f"{ALERTS}add/").status_code == 403
    assert (
        admin_client.post(
            f"{ALERTS}add/",
            {
                "tenant": tenant.pk,
                "project": alert.project_id,
                "type": "total",
                "threshold": "-5",
                "current_percentage": "-1",
                "status": "active",
            },
        ).status_code
        == 403
    )
    assert admin_client.post(f"{ALERTS}{alert.pk}/delete/", {"post": "yes"}).status_code == 403
    assert list(BudgetAlert.objects.values_list("pk", flat=True)) == [alert.pk]

    response = admin_client.post(f"/admin/accounts/tenant/{tenant.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert not BudgetAlert.objects.exists()
