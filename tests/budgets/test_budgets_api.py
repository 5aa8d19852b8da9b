from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command

from accounts.models import AuditEvent, Notification
from budgets.api.serializers import MaterialEntrySerializer, TimeEntrySerializer
from budgets.models import BudgetAlert, MaterialEntry, Project, ProjectBudget, TimeEntry
from tests.budgets.factories import ProjectBudgetFactory, ProjectFactory, hours, material
from tests.concurrency import deleted_once_validated
from tests.invoices.factories import InvoiceFactory


def _entry_status(api_client, kind: str, **body) -> int:
    return api_client.post(f"/api/v1/{kind}", body, format="json").status_code


def test_the_readme_flow_project_budget_hours_check_alert(api_client, tenant, tenant_admin):
    project = api_client.post(
        "/api/v1/projects", {"name": "Website", "hourly_rate": "120.00"}, format="json"
    )
    assert project.status_code == 201
    project_id = project.json()["id"]
    budget = api_client.put(
        f"/api/v1/projects/{project_id}/budget",
        {
            "hours_budget": "40",
            "total_budget": "4500",
            "alert_thresholds": [
                {"type": "hours", "percentage": 80},
                {"type": "total", "percentage": 90},
            ],
        },
        format="json",
    )
    assert budget.status_code == 201, budget.json()
    assert budget.json()["alert_thresholds"] == [
        {"type": "hours", "percentage": 80.0, "notify": True},
        {"type": "total", "percentage": 90.0, "notify": True},
    ]
    for day in ["02", "03", "04", "05"]:
        entry = api_client.post(
            "/api/v1/time-entries",
            {"project": project_id, "date": f"2026-11-{day}", "hours": "8.5"},
            format="json",
        )
        assert entry.status_code == 201, entry.json()
        assert entry.json()["rate"] == "120.00"
    material = api_client.post(
        "/api/v1/material-entries",
        {"project": project_id, "amount": "250.00", "description": "Hosting"},
        format="json",
    )
    assert material.status_code == 201
    usage = api_client.get(f"/api/v1/projects/{project_id}/usage").json()
    assert usage["hours"] == {"used": "34.00", "budget": "40.00", "percentage": "85.00"}
    assert usage["total"] == {"used": "4330.00", "budget": "4500.00", "percentage": "96.22"}
    output = StringIO()
    call_command("run_budget_check", stdout=output)
    assert "alerts raised: 2," in output.getvalue()
    alerts = api_client.get("/api/v1/budget-alerts?status=active").json()["results"]
    assert sorted((a["type"], a["threshold"], a["current_percentage"]) for a in alerts) == [
        ("hours", "80.00", "85.00"),
        ("total", "90.00", "96.22"),
    ]
    titles = set(Notification.objects.filter(user=tenant_admin).values_list("title", flat=True))
    assert any(title.startswith("Website: hours budget at 85.00%") for title in titles), titles


@pytest.mark.parametrize("where", ["api", "admin"])
def test_a_deleted_projects_open_alerts_are_closed_with_it(
    api_client, admin_client, tenant, tenant_admin, where
):
    project = ProjectFactory(tenant=tenant, name="Website")
    ProjectBudgetFactory(
        project=project,
        hours_budget=Decimal(1),
        alert_thresholds=[{"type": "hours", "percentage": 50}],
    )
    entry = hours(project, 1)
    call_command("run_budget_check", stdout=StringIO())
    assert Notification.objects.filter(user=tenant_admin, resolved_at__isnull=True).count() == 1
    entry.delete()

    if where == "api":
        assert api_client.delete(f"/api/v1/projects/{project.pk}").status_code == 204
    else:
        admin_client.post(f"/admin/budgets/project/{project.pk}/delete/", {"post": "yes"})
    call_command("run_budget_check", stdout=StringIO())

    assert not ProjectBudget.objects.filter(project_id=project.pk).exists()
    assert not Notification.objects.filter(user=tenant_admin, resolved_at__isnull=True).exists()


def test_projects_are_filtered_by_status_and_searched_by_name(api_client, tenant, other_tenant):
    website, shop, old_site = (
        ProjectFactory(tenant=tenant, name=name, status=status)
        for name, status in [
            ("Website", Project.Status.ACTIVE),
            ("Shop", Project.Status.ACTIVE),
            ("Old website", Project.Status.ARCHIVED),
        ]
    )
    ProjectFactory(tenant=other_tenant, name="Their website")

    def listed(query):
        response = api_client.get(f"/api/v1/projects?{query}")
        assert response.status_code == 200, response.json()
        return [project["id"] for project in response.json()["results"]]

    assert listed("status=active") == [shop.pk, website.pk]
    assert listed("status=archived") == [old_site.pk]
    assert listed("search=WEB") == [old_site.pk, website.pk]
    assert listed("search=web&status=active") == [website.pk]
    # A list's filters narrow the list alone.
    found = api_client.get(f"/api/v1/projects/{old_site.pk}?status=active")
    assert found.json()["id"] == old_site.pk
    refused = api_client.get("/api/v1/projects?status=closed")
    assert refused.status_code == 400
    assert refused.json()["errors"] == {
        "status": ['Select a valid choice. "closed" is not one of: active, archived.']
    }
    assert list(api_client.get("/api/v1/projects?search=").json()["errors"]) == ["search"]


@pytest.mark.parametrize("method", ["put", "patch"])
def test_the_write_that_creates_a_budget_answers_201_with_its_address(api_client, tenant, method):
    project = ProjectFactory(tenant=tenant)
    url = f"/api/v1/projects/{project.pk}/budget"

    created = getattr(api_client, method)(url, {"hours_budget": "40"}, format="json")
    read_back = api_client.get(created["Location"])
    again = getattr(api_client, method)(url, {"hours_budget": "40"}, format="json")
    changed = api_client.put(url, {"hours_budget": "50"}, format="json")

    assert created.status_code == 201, created.json()
    assert created["Location"] == url
    assert read_back.json() == created.json()
    for answer in (again, changed):
        assert answer.status_code == 200
        assert not answer.has_header("Location")
    assert changed.json()["hours_budget"] == "50.00"


def test_a_budget_is_read_and_patched_at_the_url_it_is_put_to(api_client, tenant):
    project = ProjectFactory(tenant=tenant)
    url = f"/api/v1/projects/{project.pk}/budget"
    unset = api_client.get(url)
    thresholds = [{"type": "total", "percentage": 90, "notify": True}]
    api_client.put(url, {"total_budget": "1000", "alert_thresholds": thresholds}, format="json")

    patched = api_client.patch(url, {"hours_budget": "40"}, format="json")

    assert (unset.status_code, unset.json()["code"]) == (404, "NOT_FOUND")
    assert "PUT" in unset.json()["detail"]
    assert patched.status_code == 200
    read = api_client.get(url).json()
    assert (read["hours_budget"], read["total_budget"]) == ("40.00", "1000.00")
    assert read["alert_thresholds"] == [{"type": "total", "percentage": 90.0, "notify": True}]
    assert api_client.options(url).json()["actions"]["PUT"].keys() >= {"hours_budget"}


@pytest.mark.parametrize("notify", ["yes", "on", 1, "true"])
def test_a_thresholds_notify_is_true_or_false_and_nothing_else(api_client, tenant, notify):
    project = ProjectFactory(tenant=tenant)
    thresholds = [{"type": "hours", "percentage": 80, "notify": notify}]

    response = api_client.put(
        f"/api/v1/projects/{project.pk}/budget",
        {"hours_budget": "40", "alert_thresholds": thresholds},
        format="json",
    )

    assert response.status_code == 400
    assert "notify" in response.json()["errors"]["alert_thresholds"][0]
    assert not ProjectBudget.objects.exists()


def test_a_threshold_on_a_zero_budget_set_in_the_admin_is_400(api_client, tenant):
    budget = ProjectBudgetFactory(project=ProjectFactory(tenant=tenant), hours_budget=Decimal(0))
    thresholds = [{"type": "hours", "percentage": 50}]

    response = api_client.patch(
        f"/api/v1/projects/{budget.project_id}/budget",
        {"alert_thresholds": thresholds},
        format="json",
    )

    assert response.status_code == 400
    assert "hours budget is 0" in response.json()["errors"]["alert_thresholds"][0]
    budget.refresh_from_db()
    assert budget.alert_thresholds == []


def test_a_threshold_of_a_kind_without_a_budget_is_400_and_changes_nothing(api_client, tenant):
    project = ProjectFactory(tenant=tenant)
    url = f"/api/v1/projects/{project.pk}/budget"
    thresholds = [{"type": "hours", "percentage": 80}]
    api_client.put(url, {"hours_budget": "40", "alert_thresholds": thresholds}, format="json")

    refusals = [
        api_client.put(url, {"total_budget": "10", "alert_thresholds": thresholds}, format="json"),
        api_client.patch(url, {"hours_budget": None}, format="json"),
    ]

    for refused in refusals:
        assert refused.status_code == 400
        assert refused.json()["errors"]["alert_thresholds"] == [
            "Threshold 0: there is no hours budget, so it would never alert."
        ]
    budget = ProjectBudget.objects.get(project=project)
    assert (budget.hours_budget, budget.total_budget) == (Decimal(40), None)


def test_a_project_with_recorded_work_is_archived_not_deleted(api_client, tenant):
    worked, empty = ProjectFactory(tenant=tenant), ProjectFactory(tenant=tenant)
    hours(worked, 2)
    refused = api_client.delete(f"/api/v1/projects/{worked.pk}")
    assert refused.status_code == 409
    assert refused.json()["code"] == "CONFLICT"
    assert "time entries" in refused.json()["detail"] and "archive" in refused.json()["detail"]
    assert TimeEntry.objects.filter(project=worked).count() == 1
    assert api_client.delete(f"/api/v1/projects/{empty.pk}").status_code == 204
    assert AuditEvent.objects.filter(
        action="delete", resource_type="budgets.project", resource_id=str(empty.pk)
    ).exists()
    archived = api_client.patch(
        f"/api/v1/projects/{worked.pk}", {"status": "archived"}, format="json"
    )
    assert archived.json()["status"] == "archived"


@pytest.mark.parametrize(
    "thresholds",
    [
        [{"type": "days", "percentage": 80}],
        [{"type": "hours", "percentage": -5}],
        [{"type": "hours", "percentage": "lots"}],
        [{"type": "hours", "percentage": True}],
        [{"type": "hours"}],
        [{"type": "hours", "percentage": 80.004}],
        [
            {"type": "hours", "percentage": 80},
            {"type": "hours", "percentage": 80.0, "notify": False},
        ],
        "not a list",
    ],
)
def test_invalid_thresholds_are_400(api_client, tenant, thresholds):
    project = ProjectFactory(tenant=tenant)
    response = api_client.put(
        f"/api/v1/projects/{project.pk}/budget",
        {"hours_budget": "10", "alert_thresholds": thresholds},
        format="json",
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "alert_thresholds" in response.json()["errors"]
    assert not ProjectBudget.objects.filter(project=project).exists()


def test_a_zero_or_negative_budget_is_400(api_client, tenant):
    project = ProjectFactory(tenant=tenant)
    response = api_client.put(
        f"/api/v1/projects/{project.pk}/budget", {"hours_budget": "0"}, format="json"
    )
    assert response.status_code == 400
    assert "hours_budget" in response.json()["errors"]


def test_an_empty_budget_is_400_and_keeps_the_budget(api_client, tenant):
    project = ProjectFactory(tenant=tenant)
    url = f"/api/v1/projects/{project.pk}/budget"
    assert api_client.put(url, {"hours_budget": "40"}, format="json").status_code == 201
    for empty in ("", "  "):
        response = api_client.patch(url, {"hours_budget": empty}, format="json")
        assert response.status_code == 400
        assert response.json()["errors"]["hours_budget"] == ["A valid number is required."]
    assert api_client.get(url).json()["hours_budget"] == "40.00"
    # null is how a budget is removed.
    assert api_client.patch(url, {"hours_budget": None}, format="json").status_code == 200
    assert api_client.get(url).json()["hours_budget"] is None


def test_entries_are_filtered_by_project(api_client, tenant):
    first, second = ProjectFactory(tenant=tenant), ProjectFactory(tenant=tenant)
    hours(first, 1)
    hours(second, 2)
    listed = api_client.get(f"/api/v1/time-entries?project={second.pk}").json()["results"]
    assert [entry["hours"] for entry in listed] == ["2.00"]
    assert api_client.get("/api/v1/time-entries?project=abc").status_code == 400
    assert api_client.get("/api/v1/material-entries?project=²").status_code == 400


def test_material_entries(api_client, tenant):
    project = ProjectFactory(tenant=tenant)
    created = api_client.post(
        "/api/v1/material-entries",
        {"project": project.pk, "amount": "99.50", "description": "Cables"},
        format="json",
    )
    assert created.status_code == 201
    assert _entry_status(api_client, "material-entries", project=project.pk, amount="-1") == 400


def test_another_workspaces_projects_are_not_found(api_client, other_tenant):
    theirs = ProjectFactory(tenant=other_tenant)
    ProjectBudgetFactory(project=theirs, hours_budget=Decimal("10"))
    for path in ("", "/usage"):
        assert api_client.get(f"/api/v1/projects/{theirs.pk}{path}").status_code == 404
    assert (
        api_client.put(f"/api/v1/projects/{theirs.pk}/budget", {}, format="json").status_code == 404
    )
    assert api_client.delete(f"/api/v1/projects/{theirs.pk}").status_code == 404
    logged = api_client.post(
        "/api/v1/time-entries", {"project": theirs.pk, "hours": "1"}, format="json"
    )
    assert logged.status_code == 400
    assert "project" in logged.json()["errors"]
    assert not TimeEntry.objects.exists()


def _hours_alert(project) -> BudgetAlert:
    """An open alert: the project's hours at 60 % of its budget, past a threshold of 50 %."""
    return BudgetAlert.objects.create(
        tenant=project.tenant,
        project=project,
        type="hours",
        threshold=Decimal("50"),
        current_percentage=Decimal("60"),
    )


def test_another_workspaces_entries_and_alerts_are_invisible(api_client, other_tenant):
    theirs = ProjectFactory(tenant=other_tenant)
    entry = hours(theirs, 3)
    alert = _hours_alert(theirs)
    assert api_client.get("/api/v1/time-entries").json()["results"] == []
    assert api_client.get(f"/api/v1/time-entries/{entry.pk}").status_code == 404
    assert api_client.get("/api/v1/budget-alerts").json()["results"] == []
    assert api_client.get(f"/api/v1/budget-alerts/{alert.pk}").status_code == 404


def test_usage_of_a_zero_budget_has_no_percentage_and_the_others_keep_theirs(api_client, tenant):
    project = ProjectFactory(tenant=tenant, hourly_rate=Decimal(100))
    ProjectBudgetFactory(
        project=project,
        hours_budget=Decimal(10),
        material_budget=Decimal(0),
        total_budget=Decimal(1000),
    )
    hours(project, 1)
    usage = api_client.get(f"/api/v1/projects/{project.pk}/usage")
    assert usage.status_code == 200
    assert [usage.json()[kind]["percentage"] for kind in ("hours", "material", "total")] == [
        "10.00",
        None,
        "10.00",
    ]


def test_a_bad_alert_status_filter_is_400(api_client):
    response = api_client.get("/api/v1/budget-alerts?status=open")
    assert response.status_code == 400
    assert response.json()["detail"] == "The request has invalid fields."
    assert "status" in response.json()["errors"]


def test_an_archived_projects_entries_are_neither_changed_nor_deleted(api_client, tenant):
    project = ProjectFactory(tenant=tenant)
    entries = {"time-entries": hours(project, 2), "material-entries": material(project, 10)}
    api_client.patch(f"/api/v1/projects/{project.pk}", {"status": "archived"}, format="json")
    for kind, entry in entries.items():
        url = f"/api/v1/{kind}/{entry.pk}"
        whole = {**api_client.get(url).json(), "description": "Rewritten"}
        for refused in [
            api_client.patch(url, {"description": "Rewritten"}, format="json"),
            api_client.put(url, whole, format="json"),
            api_client.delete(url),
        ]:
            assert refused.status_code == 409, kind
            assert "archived" in refused.json()["detail"]
        entry.refresh_from_db()
        assert entry.description == ""
    api_client.patch(f"/api/v1/projects/{project.pk}", {"status": "active"}, format="json")
    for kind, entry in entries.items():
        url = f"/api/v1/{kind}/{entry.pk}"
        assert api_client.patch(url, {"description": "Fixed"}, format="json").status_code == 200
        assert api_client.delete(url).status_code == 204


def test_an_archived_project_takes_no_new_time_or_material(api_client, tenant):
    project = ProjectFactory(tenant=tenant, status="archived")
    for path, body in [
        ("/api/v1/time-entries", {"project": project.pk, "hours": "2"}),
        ("/api/v1/material-entries", {"project": project.pk, "amount": "10.00"}),
    ]:
        response = api_client.post(path, body, format="json")
        assert response.status_code == 400, path
        assert "archived" in response.json()["errors"]["project"][0]
    assert not TimeEntry.objects.exists() and not MaterialEntry.objects.exists()
    api_client.patch(f"/api/v1/projects/{project.pk}", {"status": "active"}, format="json")
    assert _entry_status(api_client, "time-entries", project=project.pk, hours="2") == 201


@pytest.mark.parametrize("project_id", [2.999, 1.0])
def test_a_project_id_that_is_not_a_whole_number_records_nothing(api_client, tenant, project_id):
    ProjectFactory(tenant=tenant, pk=1), ProjectFactory(tenant=tenant, pk=2)
    for path, body in [
        ("/api/v1/time-entries", {"project": project_id, "hours": "2"}),
        ("/api/v1/material-entries", {"project": project_id, "amount": "10.00"}),
    ]:
        response = api_client.post(path, body, format="json")
        assert response.status_code == 400, path
        assert "Incorrect type" in response.json()["errors"]["project"][0]
    assert not TimeEntry.objects.exists() and not MaterialEntry.objects.exists()
    assert _entry_status(api_client, "time-entries", project=2, hours="2") == 201


def test_usage_far_over_a_tiny_budget_is_shown(api_client, tenant):
    project = ProjectFactory(tenant=tenant)
    ProjectBudgetFactory(project=project, material_budget=Decimal("0.01"))
    material(project, "9999999999.99")
    response = api_client.get(f"/api/v1/projects/{project.pk}/usage")
    assert response.status_code == 200
    assert response.json()["material"]["percentage"] == "99999999999900.00"


@pytest.mark.parametrize("recorded", ["time", "material", "invoice"])
def test_the_admin_refuses_to_delete_a_project_with_recorded_work_as_the_api_does(
    admin_client, tenant, recorded
):
    project = ProjectFactory(tenant=tenant)
    kept = {
        "time": lambda: hours(project, 2),
        "material": lambda: material(project, 10),
        "invoice": lambda: InvoiceFactory(tenant=tenant, project=project, status="sent"),
    }[recorded]()
    page = f"/admin/budgets/project/{project.pk}/delete/"
    assert "Cannot delete project" in admin_client.get(page).text
    admin_client.post(page, {"post": "yes"})
    project.refresh_from_db()
    kept.refresh_from_db()
    assert kept.project == project
    bulk = admin_client.post(
        "/admin/budgets/project/",
        {"action": "delete_selected", "_selected_action": [project.pk], "post": "yes"},
    )
    assert bulk.status_code in (200, 302)
    project.refresh_from_db()
    assert not AuditEvent.objects.filter(action="delete", resource_type="budgets.project").exists()


@pytest.mark.parametrize(
    ("page", "fields"),
    [
        ("timeentry", {"date": "2026-11-02", "hours": "8", "rate": "100"}),
        ("materialentry", {"date": "2026-11-02", "amount": "10"}),
        ("projectbudget", {"hours_budget": "10", "alert_thresholds": "[]"}),
    ],
)
def test_the_admin_refuses_a_row_on_another_workspaces_project(
    admin_client, tenant, other_tenant, page, fields
):
    theirs = ProjectFactory(tenant=other_tenant)
    response = admin_client.post(
        f"/admin/budgets/{page}/add/", {"tenant": tenant.pk, "project": theirs.pk, **fields}
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["project"] == [
        "It belongs to another workspace."
    ]
    assert not TimeEntry.objects.exists() and not ProjectBudget.objects.exists()
    assert not MaterialEntry.objects.exists()


@pytest.mark.parametrize(
    ("thresholds", "stored"),
    [('[{"type": "hours", "percentage": 80}]', [{"type": "hours", "percentage": 80}]), ("", [])],
)
def test_a_budget_added_on_the_admins_project_page_belongs_to_the_project_workspace(
    admin_client, tenant, thresholds, stored
):
    project = ProjectFactory(tenant=tenant)
    response = admin_client.post(
        f"/admin/budgets/project/{project.pk}/change/",
        {
            "tenant": tenant.pk,
            "name": project.name,
            "status": "active",
            "hourly_rate": "100",
            "budget-TOTAL_FORMS": "1",
            "budget-INITIAL_FORMS": "0",
            "budget-MIN_NUM_FORMS": "0",
            "budget-MAX_NUM_FORMS": "1",
            "budget-0-hours_budget": "40",
            "budget-0-alert_thresholds": thresholds,
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    budget = ProjectBudget.objects.get(project=project)
    assert (budget.tenant, budget.hours_budget) == (tenant, Decimal("40"))
    assert budget.alert_thresholds == stored


def test_an_entry_keeps_its_rate_when_changed_and_takes_the_new_projects_when_moved(
    api_client, tenant
):
    website, shop = (
        api_client.post(
            "/api/v1/projects", {"name": name, "hourly_rate": rate}, format="json"
        ).json()["id"]
        for name, rate in (("Website", "100"), ("Shop", "80"))
    )
    entry = api_client.post(
        "/api/v1/time-entries", {"project": website, "hours": "10"}, format="json"
    ).json()
    assert entry["rate"] == "100.00"
    api_client.patch(f"/api/v1/projects/{website}", {"hourly_rate": "150"}, format="json")

    url = f"/api/v1/time-entries/{entry['id']}"
    fixed = api_client.patch(
        url, {"project": website, "description": "typo fixed"}, format="json"
    ).json()
    assert fixed["rate"] == "100.00"
    usage = api_client.get(f"/api/v1/projects/{website}/usage").json()
    assert usage["total"]["used"] == "1000.00"
    change = AuditEvent.objects.get(resource_id=str(entry["id"]), action="update")
    assert change.changed_fields == ["description"]
    assert api_client.patch(url, {"project": shop}, format="json").json()["rate"] == "80.00"


def test_a_budget_change_is_audited_with_what_it_changed_before_and_after(api_client, tenant):
    project = api_client.post("/api/v1/projects", {"name": "Website"}, format="json").json()["id"]
    url = f"/api/v1/projects/{project}/budget"
    budget = {"hours_budget": "40", "total_budget": "4500"}
    answers = [
        api_client.put(url, body, format="json").status_code
        for body in (budget, {**budget, "hours_budget": "50"}, {**budget, "hours_budget": "50"})
    ]
    assert answers == [201, 200, 200]
    events = AuditEvent.objects.filter(resource_type="budgets.projectbudget").order_by("id")
    assert [(event.action, event.changed_fields) for event in events] == [
        ("create", ["alert_thresholds", "hours_budget", "total_budget"]),
        ("update", ["hours_budget"]),
    ]
    assert (events[1].old_values, events[1].new_values) == (
        {"hours_budget": "40.00"},
        {"hours_budget": "50.00"},
    )


@pytest.mark.parametrize(
    ("page", "fields", "field", "error"),
    [
        ("timeentry", {"hours": "-5", "rate": "100"}, "hours", "greater than or equal to 0.01"),
        ("timeentry", {"hours": "500", "rate": "100"}, "hours", "less than or equal to 24"),
        ("timeentry", {"hours": "8", "rate": "-1"}, "rate", "greater than or equal to 0"),
        ("materialentry", {"amount": "-100"}, "amount", "greater than or equal to 0.01"),
        ("projectbudget", {"hours_budget": "-10"}, "hours_budget", "greater than or equal to 0"),
        (
            "projectbudget",
            {"total_budget": "10", "alert_thresholds": '[{"type": "hours", "percentage": 50}]'},
            "alert_thresholds",
            "Threshold 0: there is no hours budget, so it would never alert.",
        ),
        (
            "projectbudget",
            {"hours_budget": "0", "alert_thresholds": '[{"type": "hours", "percentage": 50}]'},
            "alert_thresholds",
            "Threshold 0: the hours budget is 0, of which no percentage can be computed: set it "
            "above 0.",
        ),
        (
            "projectbudget",
            {
                "total_budget": "10",
                "alert_thresholds": '[{"type": "total", "percentage": 50, "notfy": false}]',
            },
            "alert_thresholds",
            "Threshold 0: unknown key 'notfy' (a threshold has type, percentage and notify).",
        ),
    ],
)
def test_the_admin_refuses_what_the_api_refuses(admin_client, tenant, page, fields, field, error):
    project = ProjectFactory(tenant=tenant)
    response = admin_client.post(
        f"/admin/budgets/{page}/add/",
        {"tenant": tenant.pk, "project": project.pk, "date": "2026-11-02", **fields},
    )
    assert response.status_code == 200
    (message,) = response.context["adminform"].form.errors[field]
    assert error in message
    assert not TimeEntry.objects.exists() and not MaterialEntry.objects.exists()
    assert not ProjectBudget.objects.exists()


def test_the_admin_records_nothing_new_on_an_archived_project(admin_client, tenant):
    active, archived = ProjectFactory(tenant=tenant), ProjectFactory(tenant=tenant)
    kept = hours(archived, 2)
    moved = hours(active, 3)
    archived.status = archived.Status.ARCHIVED
    archived.save()
    refusal = ["The project is archived: set its status to active to record on it."]
    entry = {"tenant": tenant.pk, "project": archived.pk, "date": "2026-11-02", "rate": "100"}

    added = admin_client.post("/admin/budgets/timeentry/add/", {**entry, "hours": "1"})
    moved_onto = admin_client.post(
        f"/admin/budgets/timeentry/{moved.pk}/change/", {**entry, "hours": "3"}
    )
    # An entry already on it may still be corrected by staff.
    corrected = admin_client.post(
        f"/admin/budgets/timeentry/{kept.pk}/change/", {**entry, "hours": "1.5"}
    )

    for response in (added, moved_onto):
        assert response.status_code == 200
        assert response.context["adminform"].form.errors["project"] == refusal
    assert corrected.status_code == 302
    assert sorted(TimeEntry.objects.values_list("project", "hours")) == sorted(
        [(archived.pk, Decimal("1.50")), (active.pk, Decimal("3.00"))]
    )


def test_usage_rounds_money_half_up_as_invoices_do(api_client, tenant):
    project = ProjectFactory(tenant=tenant, hourly_rate=Decimal("10.10"))
    hours(project, "0.25")

    usage = api_client.get(f"/api/v1/projects/{project.pk}/usage").json()

    assert usage["total"]["used"] == "2.53"


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("serializer", "url", "body"),
    [
        (TimeEntrySerializer, "/api/v1/time-entries", {"hours": "2"}),
        (MaterialEntrySerializer, "/api/v1/material-entries", {"amount": "5"}),
    ],
)
def test_an_entry_recorded_as_its_project_is_deleted_is_a_conflict(
    api_client, tenant, monkeypatch, serializer, url, body
):
    project = ProjectFactory(tenant=tenant)
    deleted_once_validated(monkeypatch, serializer, project)
    response = api_client.post(url, {"project": project.pk, **body}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert "changed meanwhile" in response.json()["detail"]
    assert not TimeEntry.objects.exists() and not MaterialEntry.objects.exists()


@pytest.mark.parametrize("emptied", ["", "null"])
def test_a_budgets_thresholds_emptied_in_the_admin_are_none(admin_client, tenant, emptied):
    budget = ProjectBudgetFactory(
        project=ProjectFactory(tenant=tenant),
        hours_budget=Decimal("10"),
        alert_thresholds=[{"type": "hours", "percentage": 50}],
    )
    response = admin_client.post(
        f"/admin/budgets/projectbudget/{budget.pk}/change/",
        {"project": budget.project_id, "hours_budget": "10", "alert_thresholds": emptied},
    )
    assert response.status_code == 302
    budget.refresh_from_db()
    assert budget.alert_thresholds == []


def test_a_time_entry_added_in_the_admin_without_a_rate_takes_the_projects(admin_client, tenant):
    project = ProjectFactory(tenant=tenant, hourly_rate=Decimal("95"))
    entry = {"tenant": tenant.pk, "project": project.pk, "date": "2026-11-02", "hours": "2"}

    response = admin_client.post("/admin/budgets/timeentry/add/", entry)

    assert response.status_code == 302
    assert TimeEntry.objects.get().rate == Decimal("95.00")
    named = admin_client.post("/admin/budgets/timeentry/add/", {**entry, "rate": "120"})
    assert named.status_code == 302
    assert sorted(TimeEntry.objects.values_list("rate", flat=True)) == [
        Decimal("95"),
        Decimal("120"),
    ]


@pytest.mark.django_db(transaction=True)
def test_racing_first_budgets_are_one_creation_and_changes_of_what_it_stored(tenant):
    from budgets.services import project_budget_set
    from tests.concurrency import at_once

    project = ProjectFactory(tenant=tenant)
    amounts = iter(range(10, 90, 10))

    results = at_once(
        lambda: project_budget_set(project=project, hours_budget=Decimal(next(amounts))), 8
    )

    assert not [result for result in results if isinstance(result, Exception)]
    events = AuditEvent.objects.filter(resource_type="budgets.projectbudget").order_by("id")
    assert [event.action for event in events][0] == AuditEvent.Action.CREATE
    assert all(event.action == AuditEvent.Action.UPDATE for event in events[1:])
    assert all(event.old_values is not None for event in events[1:])
    assert events.last().new_values["hours_budget"] == str(
        ProjectBudget.objects.get(project=project).hours_budget
    )


def test_a_total_used_up_to_the_cent_is_at_100_percent_and_alerts(api_client, tenant, tenant_admin):
    # 0.33 h at 33.33 costs 10.9989, which is 11.00 in money: the budget of 11.00 is used up.
    project = ProjectFactory(tenant=tenant, hourly_rate=Decimal("33.33"))
    ProjectBudgetFactory(
        project=project,
        total_budget=Decimal("11.00"),
        alert_thresholds=[{"type": "total", "percentage": 100, "notify": True}],
    )
    hours(project, "0.33")
    usage = api_client.get(f"/api/v1/projects/{project.pk}/usage").json()
    assert usage["total"] == {"used": "11.00", "budget": "11.00", "percentage": "100.00"}
    call_command("run_budget_check", stdout=StringIO())
    alerts = api_client.get("/api/v1/budget-alerts?status=active").json()["results"]
    assert [(a["type"], a["threshold"], a["current_percentage"]) for a in alerts] == [
        ("total", "100.00", "100.00")
    ]


def test_a_usage_under_its_threshold_is_not_shown_at_it(api_client, tenant, tenant_admin):
    # 799.99 of 1000 is 79.999 %: under the 80 % threshold, so no alert, and not shown as 80.00 %.
    project = ProjectFactory(tenant=tenant)
    ProjectBudgetFactory(
        project=project,
        material_budget=Decimal("1000"),
        alert_thresholds=[{"type": "material", "percentage": 80, "notify": True}],
    )
    material(project, "799.99")
    call_command("run_budget_check", stdout=StringIO())
    assert api_client.get("/api/v1/budget-alerts").json()["results"] == []
    usage = api_client.get(f"/api/v1/projects/{project.pk}/usage").json()
    assert usage["material"]["percentage"] == "79.99"
    material(project, "0.01")
    call_command("run_budget_check", stdout=StringIO())
    alerts = api_client.get("/api/v1/budget-alerts?status=active").json()["results"]
    assert [(a["threshold"], a["current_percentage"]) for a in alerts] == [("80.00", "80.00")]


def test_budget_alerts_filter_by_project(api_client, tenant, tenant_admin):
    projects = []
    for _ in range(2):
        project = ProjectFactory(tenant=tenant)
        ProjectBudgetFactory(
            project=project,
            hours_budget=Decimal("10"),
            alert_thresholds=[{"type": "hours", "percentage": 50, "notify": True}],
        )
        hours(project, 6)
        projects.append(project)
    call_command("run_budget_check", stdout=StringIO())
    for project in projects:
        alerts = api_client.get(f"/api/v1/budget-alerts?project={project.pk}").json()["results"]
        assert [alert["project"] for alert in alerts] == [project.pk]
    response = api_client.get("/api/v1/budget-alerts?project=first")
    assert response.status_code == 400
    assert response.json()["errors"] == {"project": ["Must be a project id."]}


def test_a_budget_sent_with_the_project_is_set_where_budgets_are_set(api_client, tenant):
    created = api_client.post(
        "/api/v1/projects", {"name": "Roof", "budget": {"hours_budget": "40"}}, format="json"
    )
    assert created.status_code == 400
    assert created.json()["errors"]["budget"] == [
        "Set it with PUT /api/v1/projects/{id}/budget once the project exists."
    ]
    project = api_client.post("/api/v1/projects", {"name": "Roof"}, format="json").json()
    url = f"/api/v1/projects/{project['id']}"
    api_client.put(f"{url}/budget", {"hours_budget": "40"}, format="json")
    read = api_client.get(url).json()

    changed = api_client.patch(
        url, {"budget": {**read["budget"], "hours_budget": "80.00"}}, format="json"
    )
    assert changed.status_code == 400
    assert changed.json()["errors"]["budget"] == [f"Set it with PUT {url}/budget."]
    assert api_client.get(url).json()["budget"]["hours_budget"] == "40.00"

    sent_back = api_client.put(url, {**read, "name": "Roof and walls"}, format="json")
    assert sent_back.status_code == 200, sent_back.json()
    assert sent_back.json()["name"] == "Roof and walls"
    assert api_client.patch(url, {"budget": None}, format="json").status_code == 400


@pytest.mark.parametrize("kind", ["time-entries", "material-entries"])
def test_an_entrys_own_address_ignores_the_lists_project_filter(api_client, tenant, kind):
    project, other = ProjectFactory(tenant=tenant), ProjectFactory(tenant=tenant)
    entry = hours(project, 3) if kind == "time-entries" else material(project, 5)
    url = f"/api/v1/{kind}/{entry.pk}"
    assert api_client.get(f"/api/v1/{kind}?project={other.pk}").json()["results"] == []
    shown = api_client.get(f"{url}?project={other.pk}")
    assert shown.status_code == 200
    assert shown.json()["project"] == project.pk
    assert api_client.get(f"{url}?project=none").status_code == 200
    changed = api_client.patch(
        f"{url}?project={other.pk}", {"description": "Changed"}, format="json"
    )
    assert changed.status_code == 200
    entry.refresh_from_db()
    assert entry.description == "Changed"
    assert api_client.delete(f"{url}?project={other.pk}").status_code == 204
    assert not type(entry).objects.filter(pk=entry.pk).exists()


def test_an_alerts_own_address_ignores_the_lists_filters(api_client, tenant):
    project, other = ProjectFactory(tenant=tenant), ProjectFactory(tenant=tenant)
    alert = _hours_alert(project)
    assert api_client.get("/api/v1/budget-alerts?status=resolved").json()["results"] == []
    for query in ("status=resolved", f"project={other.pk}", "status=bogus"):
        shown = api_client.get(f"/api/v1/budget-alerts/{alert.pk}?{query}")
        assert shown.status_code == 200, query
        assert shown.json()["status"] == "active"
