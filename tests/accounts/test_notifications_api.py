"""Workspace admins read the alerts their workspace's admins were sent over the API; nobody else
reads them, and no workspace reads another's or the platform staff's."""

from datetime import UTC, datetime
from decimal import Decimal

import time_machine

from accounts.services import notify_admins
from budgets.services import budget_alert_check
from tests.budgets.factories import ProjectBudgetFactory, ProjectFactory, hours
from tests.factories import MembershipFactory, UserFactory

NOTIFICATIONS = "/api/v1/notifications"


def _notify(tenant, kind, title, at, **payload):
    with time_machine.travel(at, tick=False):
        (notification,) = notify_admins(tenant=tenant, kind=kind, title=title, payload=payload)
    return notification


def _budget_alert_raised_and_resolved(tenant):
    project = ProjectFactory(tenant=tenant, name="Website")
    ProjectBudgetFactory(
        project=project,
        hours_budget=Decimal("10"),
        alert_thresholds=[{"type": "hours", "percentage": 80, "notify": True}],
    )
    entry = hours(project, 9)
    budget_alert_check()
    entry.delete()
    budget_alert_check()


def test_admins_read_their_own_workspaces_notifications_newest_first(
    api_client, tenant, tenant_admin, other_tenant
):
    # Alice's admin is platform staff too: the alerts sent to her as staff stay out of the list.
    tenant_admin.is_staff = tenant_admin.is_superuser = True
    tenant_admin.save()
    MembershipFactory(tenant=other_tenant, user=UserFactory(username="bob@example.com"))
    older = _notify(
        tenant, "storage_full", "Storage full", datetime(2026, 3, 1, tzinfo=UTC), error="ENOSPC"
    )
    newer = _notify(
        tenant,
        "invoice_pdf_failed",
        "The PDF of invoice 2026-7 could not be rendered",
        datetime(2026, 3, 2, tzinfo=UTC),
        invoice="2026-7",
    )
    _notify(other_tenant, "storage_full", "Bob's storage full", datetime(2026, 3, 3, tzinfo=UTC))
    _notify(None, "ops", "No worker seen", datetime(2026, 3, 4, tzinfo=UTC))

    response = api_client.get(NOTIFICATIONS)

    assert response.status_code == 200
    listed = response.json()["results"]
    assert [n["id"] for n in listed] == [newer.pk, older.pk]
    assert listed[0] == {
        "id": newer.pk,
        "kind": "invoice_pdf_failed",
        "title": "The PDF of invoice 2026-7 could not be rendered",
        "payload": {"invoice": "2026-7"},
        "recipient": {"username": "alice@example.com", "email": "alice@example.com"},
        "status": "open",
        "created_at": "2026-03-02T00:00:00Z",
        "read_at": None,
        "resolved_at": None,
    }
    assert response["X-RateLimit-Remaining"].isdigit()


def test_a_resolved_budget_alert_shows_resolved_and_the_filters_find_it(
    api_client, tenant, tenant_admin
):
    _budget_alert_raised_and_resolved(tenant)
    _notify(tenant, "storage_full", "Storage full", datetime(2026, 3, 1, tzinfo=UTC))

    def listed(query):
        response = api_client.get(f"{NOTIFICATIONS}?{query}")
        assert response.status_code == 200
        return [(n["kind"], n["status"]) for n in response.json()["results"]]

    (budget,) = api_client.get(f"{NOTIFICATIONS}?kind=budget_alert").json()["results"]
    assert budget["title"] == "Website: hours budget at 90.00% (threshold 80.00%)"
    assert budget["status"] == "resolved" and budget["resolved_at"] is not None
    assert listed("status=resolved") == [("budget_alert", "resolved")]
    assert listed("status=open") == [("storage_full", "open")]
    assert listed("status=open&kind=budget_alert") == []
    assert listed("kind=storage_full") == [("storage_full", "open")]


def test_an_unknown_status_or_kind_is_refused(api_client, tenant, tenant_admin):
    for query, field in [
        ("status=closed", "status"),
        ("status=", "status"),
        ("kind=budget", "kind"),
        ("kind=", "kind"),
        # The platform staff's own kinds are never a workspace's.
        ("kind=ops", "kind"),
        ("kind=share_link_cleanup_failures", "kind"),
    ]:
        response = api_client.get(f"{NOTIFICATIONS}?{query}")
        assert response.status_code == 400, query
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "INVALID_REQUEST"
        assert field in response.json()["errors"], query


def test_one_notification_is_read_by_its_id_and_not_another_workspaces(
    api_client, other_api_client, tenant, tenant_admin, other_tenant
):
    mine = _notify(tenant, "storage_full", "Storage full", datetime(2026, 3, 1, tzinfo=UTC))
    MembershipFactory(tenant=other_tenant, user=UserFactory(username="bob@example.com"))
    theirs = _notify(other_tenant, "storage_full", "Bob's", datetime(2026, 3, 1, tzinfo=UTC))
    UserFactory(username="staff@example.com", is_staff=True, is_superuser=True)
    platform = _notify(None, "ops", "No worker seen", datetime(2026, 3, 1, tzinfo=UTC))

    read = api_client.get(f"{NOTIFICATIONS}/{mine.pk}")
    assert read.status_code == 200
    assert read.json() == api_client.get(NOTIFICATIONS).json()["results"][0]
    for client, pk in [
        (api_client, theirs.pk),
        (api_client, platform.pk),
        (api_client, 999999),
        (other_api_client, mine.pk),
    ]:
        response = client.get(f"{NOTIFICATIONS}/{pk}")
        assert response.status_code == 404
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "NOT_FOUND"
    assert [n["id"] for n in other_api_client.get(NOTIFICATIONS).json()["results"]] == [theirs.pk]


def test_members_may_not_read_notifications(member_api_client, tenant, tenant_admin):
    notification = _notify(tenant, "storage_full", "Storage full", datetime(2026, 3, 1, tzinfo=UTC))

    for path in [NOTIFICATIONS, f"{NOTIFICATIONS}/{notification.pk}"]:
        response = member_api_client.get(path)
        assert response.status_code == 403
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["code"] == "FORBIDDEN"
