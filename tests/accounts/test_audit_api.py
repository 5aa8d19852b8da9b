"""Workspace admins read their workspace's audit log over the API; nobody else reads it."""

from budgets.models import Project
from generations.models import Deck


def test_admins_read_their_own_audit_log_filtered(
    api_client, member_api_client, other_api_client, tenant
):
    project = api_client.post(
        "/api/v1/projects", {"name": "Website", "hourly_rate": "100"}, format="json"
    ).json()
    api_client.put(
        f"/api/v1/projects/{project['id']}/budget", {"hours_budget": "10"}, format="json"
    )
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    link = api_client.post(
        "/api/v1/share-links", {"resource_type": "deck", "resource_id": str(deck.pk)}, format="json"
    ).json()
    api_client.delete(f"/api/v1/share-links/{link['id']}")
    api_client.delete(f"/api/v1/projects/{project['id']}")

    events = api_client.get("/api/v1/audit-events").json()["results"]
    assert [(e["resource_type"], e["action"]) for e in events][:2] == [
        ("budgets.project", "delete"),
        ("sharelinks.publiclink", "deactivate"),
    ]
    assert events[0]["actor_type"] == "api_key" and events[0]["old_values"] == {"name": "Website"}
    deletes = api_client.get("/api/v1/audit-events?action=delete").json()["results"]
    assert [e["resource_id"] for e in deletes] == [str(project["id"])]
    links = api_client.get(
        f"/api/v1/audit-events?resource_type=sharelinks.publiclink&resource_id={link['id']}"
    ).json()["results"]
    assert {e["action"] for e in links} == {"create", "deactivate"}
    assert not Project.objects.exists()

    assert member_api_client.get("/api/v1/audit-events").status_code == 403
    # Bob's log holds only the creation of his own key: none of Alice's events.
    theirs = other_api_client.get("/api/v1/audit-events").json()["results"]
    assert [(e["resource_type"], e["action"]) for e in theirs] == [("accounts.apikey", "create")]
    bad = api_client.get("/api/v1/audit-events?action=erase")
    assert bad.status_code == 400 and "action" in bad.json()["errors"]


def test_changes_to_projects_entries_clients_and_invoices_are_audited_with_their_fields(
    api_client, api_key
):
    def events(resource_type, resource_id):
        query = f"resource_type={resource_type}&resource_id={resource_id}"
        found = api_client.get(f"/api/v1/audit-events?{query}").json()["results"]
        return [(e["action"], e["old_values"], e["new_values"]) for e in reversed(found)]

    project = api_client.post(
        "/api/v1/projects", {"name": "Website", "hourly_rate": "100"}, format="json"
    ).json()
    api_client.patch(f"/api/v1/projects/{project['id']}", {"status": "archived"}, format="json")
    api_client.patch(f"/api/v1/projects/{project['id']}", {"status": "archived"}, format="json")
    assert events("budgets.project", project["id"]) == [
        ("create", None, {"name": "Website", "status": "active", "hourly_rate": "100.00"}),
        ("update", {"status": "active"}, {"status": "archived"}),
    ]
    api_client.patch(f"/api/v1/projects/{project['id']}", {"status": "active"}, format="json")
    entry = api_client.post(
        "/api/v1/time-entries",
        {"project": project["id"], "date": "2026-11-02", "hours": "2"},
        format="json",
    ).json()
    api_client.delete(f"/api/v1/time-entries/{entry['id']}")
    created, deleted = events("budgets.timeentry", entry["id"])
    assert created[0] == "create" and created[2]["hours"] == "2.00"
    assert deleted == ("delete", created[2], None)

    client = api_client.post("/api/v1/clients", {"name": "Kanal Studio"}, format="json").json()
    invoice = api_client.post(
        "/api/v1/invoices",
        {"number": "2026-0001", "client": client["id"], "lines": []},
        format="json",
    ).json()
    api_client.patch(f"/api/v1/invoices/{invoice['id']}", {"status": "sent"}, format="json")
    assert events("invoices.invoice", invoice["id"])[1] == (
        "update",
        {"status": "draft"},
        {"status": "sent"},
    )
    assert events("invoices.client", client["id"])[0][2]["name"] == "Kanal Studio"
    logged = api_client.get("/api/v1/audit-events?resource_type=invoices.invoice").json()
    assert {(e["actor_type"], e["actor_label"].split("…")[0]) for e in logged["results"]} == {
        ("api_key", api_key.removeprefix("ofl_")[:8])
    }
