"""Every create that answers 201 says where the new object lives (`Location`), as a job's 202 does,
and its replay says so again."""

import pytest

from generations.models import Deck
from tests.budgets.factories import ProjectFactory
from tests.invoices.factories import ClientFactory
from tests.openapi import published_schema


def _bodies(tenant) -> dict[str, dict]:
    project = ProjectFactory(tenant=tenant)
    client = ClientFactory(tenant=tenant)
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    return {
        "projects": {"name": "Website", "hourly_rate": "120.00"},
        "time-entries": {"project": project.pk, "date": "2026-11-02", "hours": "8.5"},
        "material-entries": {"project": project.pk, "amount": "250.00"},
        "clients": {"name": "Kanal Studio"},
        "invoices": {
            "number": "2026-0001",
            "client": client.pk,
            "issue_date": "2026-11-01",
            "currency": "EUR",
            "lines": [{"description": "Development", "unit_price": "110.00"}],
        },
        "share-links": {"resource_type": "deck", "resource_id": str(deck.pk)},
        "api-keys": {"name": "ci"},
    }


CREATES = [
    "projects",
    "time-entries",
    "material-entries",
    "clients",
    "invoices",
    "share-links",
    "api-keys",
]


@pytest.mark.parametrize("collection", CREATES)
def test_a_create_answers_the_new_objects_address_in_location(
    api_client, tenant, django_capture_on_commit_callbacks, collection
):
    body = _bodies(tenant)[collection]
    with django_capture_on_commit_callbacks():
        created = api_client.post(
            f"/api/v1/{collection}", body, format="json", HTTP_IDEMPOTENCY_KEY="create-1"
        )
    assert created.status_code == 201, created.json()
    location = created["Location"]
    assert location == f"/api/v1/{collection}/{created.json()['id']}"
    read_back = api_client.get(location)
    assert read_back.status_code == 200
    assert read_back.json()["id"] == created.json()["id"]
    replayed = api_client.post(
        f"/api/v1/{collection}", body, format="json", HTTP_IDEMPOTENCY_KEY="create-1"
    )
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed["Location"] == location


def test_the_schema_documents_location_on_every_201():
    created = {
        (path, method): operation["responses"]["201"]
        for path, operations in published_schema()["paths"].items()
        for method, operation in operations.items()
        if "201" in operation.get("responses", {})
    }
    assert sorted(created) == sorted(
        [
            *((f"/api/v1/{collection}", "post") for collection in CREATES),
            ("/api/v1/projects/{id}/budget", "put"),
            ("/api/v1/projects/{id}/budget", "patch"),
        ]
    )
    for response in created.values():
        assert response["headers"]["Location"]["required"] is True
