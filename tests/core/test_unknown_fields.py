"""A field an endpoint does not know is a 400 naming it, never silently dropped; a representation
sent back as it was read (read-only fields included) is still accepted."""

import pytest

from accounts.models import CreditEntry
from budgets.models import Project, TimeEntry
from invoices.models import Invoice
from jobs.models import Job
from sharelinks.models import PublicLink
from tests.budgets.factories import ProjectFactory
from tests.invoices.factories import ClientFactory


def test_a_misspelt_payload_option_is_400_and_submits_nothing(api_client, tenant):
    response = api_client.post(
        "/api/v1/jobs",
        {"type": "diagnostic", "payload": {"steps": 1, "step_second": 5}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"payload": {"step_second": ["Unknown field."]}}
    assert not Job.objects.exists() and not CreditEntry.objects.exists()


def test_a_body_of_many_unknown_fields_gets_a_short_answer(api_client):
    payload = {f"option{number}": 1 for number in range(50_000)}
    response = api_client.post(
        "/api/v1/jobs", {"type": "diagnostic", "payload": payload}, format="json"
    )
    assert response.status_code == 400
    errors = response.json()["errors"]["payload"]
    assert list(errors)[:20] == [f"option{number}" for number in range(20)]
    assert errors["non_field_errors"] == ["49980 more unknown fields."]
    assert len(response.content) < 2_000
    assert not Job.objects.exists()


def test_an_unknown_top_level_field_of_a_submit_is_400(api_client):
    response = api_client.post(
        "/api/v1/jobs",
        {"type": "diagnostic", "payload": {}, "priorty": "urgent"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"priorty": ["Unknown field."]}
    assert not Job.objects.exists()


def test_unknown_fields_are_named_beside_the_other_errors(api_client, tenant):
    project = ProjectFactory(tenant=tenant)
    response = api_client.post(
        "/api/v1/time-entries",
        {"project": project.pk, "hour": "2.5", "date": "2026-12-01"},
        format="json",
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors["hour"] == ["Unknown field."]
    assert "hours" in errors
    assert not TimeEntry.objects.exists()


def test_an_unknown_field_of_a_nested_line_is_400(api_client, tenant):
    client = ClientFactory(tenant=tenant)
    response = api_client.post(
        "/api/v1/invoices",
        {
            "number": "2026-1",
            "client": client.pk,
            "issue_date": "2026-12-01",
            "due_date": "2026-12-31",
            "lines": [{"description": "Audit", "quantity": "1", "unit_price": "100", "vat": "25"}],
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"]["lines"][0]["vat"] == ["Unknown field."]
    assert not Invoice.objects.exists()


@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/share-links", {"resource_type": "deck", "resource_id": "1", "max_view": 3}),
        ("/api/v1/api-keys", {"name": "ci", "expires_in": 30}),
    ],
)
def test_create_bodies_refuse_unknown_fields(api_client, path, body):
    response = api_client.post(path, body, format="json")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [list(body)[-1]]
    assert not PublicLink.objects.exists()


def test_a_project_sent_back_as_it_was_read_is_accepted(api_client, tenant):
    project = ProjectFactory(tenant=tenant, name="Roof")
    read = api_client.get(f"/api/v1/projects/{project.pk}").json()
    response = api_client.put(
        f"/api/v1/projects/{project.pk}", {**read, "name": "Roof, north"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert Project.objects.get().name == "Roof, north"
