"""Staff editing a workspace's objects in the admin appear in the workspace's audit log."""

from accounts.models import AuditEvent
from accounts.services import api_key_create
from budgets.models import Project, TimeEntry
from tests.budgets.factories import ProjectFactory, hours
from tests.invoices.factories import InvoiceFactory

BUDGET_FORMSET = {
    "budget-TOTAL_FORMS": "1",
    "budget-INITIAL_FORMS": "0",
    "budget-MIN_NUM_FORMS": "0",
    "budget-MAX_NUM_FORMS": "1",
}


def _events(tenant) -> list[tuple]:
    return [
        (event.action, event.resource_type, event.actor_type, event.actor_label)
        for event in AuditEvent.objects.filter(tenant=tenant).order_by("created_at", "id")
    ]


def _delete(admin_client, page: str) -> None:
    assert admin_client.post(f"{page}delete/", {"post": "yes"}).status_code == 302


def test_a_project_and_its_budget_added_changed_and_deleted_in_the_admin_are_audited(
    admin_client, admin_user, tenant
):
    response = admin_client.post(
        "/admin/budgets/project/add/",
        {
            "tenant": tenant.pk,
            "name": "Bridge",
            "status": "active",
            "hourly_rate": "90",
            **BUDGET_FORMSET,
            "budget-0-hours_budget": "40",
            "budget-0-alert_thresholds": "[]",
        },
    )
    assert response.status_code == 302, response.content
    project = Project.objects.get(name="Bridge")

    response = admin_client.post(
        f"/admin/budgets/project/{project.pk}/change/",
        {
            "tenant": tenant.pk,
            "name": "Bridge",
            "status": "active",
            "hourly_rate": "120",
            **BUDGET_FORMSET,
            "budget-INITIAL_FORMS": "1",
            "budget-0-id": project.budget.pk,
            "budget-0-project": project.pk,
            "budget-0-hours_budget": "40",
            "budget-0-alert_thresholds": "[]",
        },
    )
    assert response.status_code == 302, response.content
    _delete(admin_client, f"/admin/budgets/project/{project.pk}/")

    staff = ("user", admin_user.get_username())
    assert _events(tenant) == [
        ("create", "budgets.project", *staff),
        ("create", "budgets.projectbudget", *staff),
        ("update", "budgets.project", *staff),
        ("delete", "budgets.project", *staff),
    ]
    created, _, changed, deleted = AuditEvent.objects.filter(tenant=tenant).order_by(
        "created_at", "id"
    )
    assert created.new_values["name"] == "Bridge"
    assert changed.changed_fields == ["hourly_rate"]
    assert (changed.old_values, changed.new_values) == (
        {"hourly_rate": "90.00"},
        {"hourly_rate": "120.00"},
    )
    assert deleted.resource_id == str(project.pk)
    assert deleted.old_values["hourly_rate"] == "120.00"


def test_a_form_saved_without_changes_records_nothing(admin_client, tenant):
    project = ProjectFactory(tenant=tenant, name="Quiet", hourly_rate="50.00")
    response = admin_client.post(
        f"/admin/budgets/project/{project.pk}/change/",
        {
            "tenant": tenant.pk,
            "name": "Quiet",
            "status": "active",
            "hourly_rate": "50.00",
            **BUDGET_FORMSET,
        },
    )
    assert response.status_code == 302, response.content
    assert _events(tenant) == []


def test_entries_deleted_with_the_changelist_action_are_audited_one_by_one(
    admin_client, tenant, other_tenant
):
    mine = [hours(ProjectFactory(tenant=tenant), amount) for amount in (1, 2)]
    theirs = hours(ProjectFactory(tenant=other_tenant), 3)
    response = admin_client.post(
        "/admin/budgets/timeentry/",
        {
            "action": "delete_selected",
            "post": "yes",
            "_selected_action": [str(entry.pk) for entry in [*mine, theirs]],
        },
    )
    assert response.status_code == 302
    assert not TimeEntry.objects.exists()
    assert sorted(
        AuditEvent.objects.filter(tenant=tenant, action="delete").values_list(
            "resource_id", flat=True
        )
    ) == sorted(str(entry.pk) for entry in mine)
    assert AuditEvent.objects.get(tenant=other_tenant, action="delete").old_values["hours"] == (
        "3.00"
    )


def test_a_workspace_admin_reads_the_staff_change_over_the_api(admin_client, api_client, tenant):
    invoice = InvoiceFactory(tenant=tenant, notes="")
    data = {
        "tenant": tenant.pk,
        "client": invoice.client.pk,
        "number": invoice.number,
        "status": invoice.status,
        "currency": invoice.currency,
        "notes": "Paid by bank transfer.",
        "lines-TOTAL_FORMS": "0",
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
    }
    response = admin_client.post(f"/admin/invoices/invoice/{invoice.pk}/change/", data)
    assert response.status_code == 302, response.content

    events = api_client.get(
        "/api/v1/audit-events", {"resource_type": "invoices.invoice", "action": "update"}
    ).json()["results"]
    assert [(event["changed_fields"], event["new_values"]) for event in events] == [
        (["notes"], {"notes": "Paid by bank transfer."})
    ]


def test_a_keys_role_raised_and_the_key_deleted_in_the_admin_are_audited_without_its_hash(
    admin_client, admin_user, tenant
):
    api_key, _ = api_key_create(tenant=tenant, name="ci", role="member")
    response = admin_client.post(
        f"/admin/accounts/apikey/{api_key.pk}/change/",
        {
            "tenant": tenant.pk,
            "name": "ci",
            "role": "admin",
            "rate_limit_per_minute": "",
            "rate_limit_per_day": "",
        },
    )
    assert response.status_code == 302, response.content
    _delete(admin_client, f"/admin/accounts/apikey/{api_key.pk}/")

    update, delete = AuditEvent.objects.filter(
        tenant=tenant, resource_type="accounts.apikey", action__in=["update", "delete"]
    ).order_by("created_at", "id")
    assert (update.old_values, update.new_values) == ({"role": "member"}, {"role": "admin"})
    assert (update.actor_type, update.actor_label) == ("user", admin_user.get_username())
    assert delete.old_values["prefix"] == api_key.prefix
    assert api_key.key_hash not in str(delete.old_values)
