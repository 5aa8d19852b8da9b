from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import AuditEvent
from generations.models import Deck, Flashcard, Story
from invoices.models import Invoice
from jobs.models import Job
from jobs.services import job_execute, jobs_purge
from sharelinks.models import PublicLink
from tests.invoices.factories import InvoiceFactory, line


def _share(client, **body):
    return client.post("/api/v1/share-links", body, format="json")


def test_create_shows_the_link_once_and_never_again(api_client, client, tenant, settings):
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    created = _share(api_client, resource_type="deck", resource_id=str(deck.pk), max_views=5)
    assert created.status_code == 201
    url = created.json()["url"]
    assert url.startswith(f"{settings.PUBLIC_BASE_URL}/s/") and len(url.rsplit("/", 1)[1]) >= 43
    listed = api_client.get("/api/v1/share-links").json()["results"]
    assert url.rsplit("/", 1)[1] not in str(listed)
    assert listed[0]["max_views"] == 5
    assert client.get(url.removeprefix(settings.PUBLIC_BASE_URL)).status_code == 200


def test_revoke_deactivates_and_audits(api_client, client, tenant, settings):
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    created = _share(api_client, resource_type="deck", resource_id=str(deck.pk)).json()
    assert (created["deactivated_at"], created["deactivated_reason"]) == (None, None)
    assert api_client.delete(f"/api/v1/share-links/{created['id']}").status_code == 204
    link = PublicLink.objects.get()
    assert (link.is_active, link.deactivated_reason) == (False, "revoked")
    shown = api_client.get(f"/api/v1/share-links/{link.pk}").json()
    assert (shown["is_active"], shown["deactivated_reason"]) == (False, "revoked")
    event = AuditEvent.objects.get(action="deactivate", resource_id=str(link.pk))
    assert (event.old_values, event.new_values) == ({"is_active": True}, {"is_active": False})
    assert event.changed_fields == ["is_active"]
    assert client.get(created["url"].removeprefix(settings.PUBLIC_BASE_URL)).status_code == 404
    assert api_client.get("/api/v1/share-links?active=true").json()["results"] == []


def test_the_list_tells_which_links_open_now(api_client, client, tenant, settings):
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    urls = {
        name: _share(api_client, resource_type="deck", resource_id=str(deck.pk), **body).json()
        for name, body in {
            "fresh": {"max_views": 5},
            "used_up": {"max_views": 1},
            "expired": {},
            "revoked": {},
        }.items()
    }
    assert (
        client.get(urls["used_up"]["url"].removeprefix(settings.PUBLIC_BASE_URL)).status_code == 200
    )
    PublicLink.objects.filter(pk=urls["expired"]["id"]).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )
    api_client.delete(f"/api/v1/share-links/{urls['revoked']['id']}")

    def listed(query):
        response = api_client.get(f"/api/v1/share-links?{query}")
        assert response.status_code == 200
        return {link["id"]: link["is_usable"] for link in response.json()["results"]}

    ids = {name: created["id"] for name, created in urls.items()}
    assert listed("usable=true") == {ids["fresh"]: True}
    assert listed("usable=false") == {
        ids["used_up"]: False,
        ids["expired"]: False,
        ids["revoked"]: False,
    }
    # Until the nightly cleanup, a used-up or expired link is still active, but does not open.
    assert set(listed("active=true")) == {ids["fresh"], ids["used_up"], ids["expired"]}
    for name, created in urls.items():
        opens = client.get(created["url"].removeprefix(settings.PUBLIC_BASE_URL)).status_code == 200
        assert opens is (name == "fresh"), name

    response = api_client.get("/api/v1/share-links?usable=sometimes")
    assert response.status_code == 400
    assert "usable" in response.json()["errors"]


def test_sharing_another_workspaces_resource_is_404(api_client, other_tenant):
    theirs = Deck.objects.create(tenant=other_tenant, title="Not yours")
    response = _share(api_client, resource_type="deck", resource_id=str(theirs.pk))
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    assert not PublicLink.objects.exists()


@pytest.mark.parametrize("status", ["generating", "failed"])
def test_sharing_a_story_that_is_not_ready_is_a_conflict(api_client, tenant, status):
    story = Story.objects.create(tenant=tenant, status=status, prompt={"prompt": "A map"})
    response = _share(api_client, resource_type="story", resource_id=str(story.pk))
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert f"is {status}" in response.json()["detail"]
    assert not PublicLink.objects.exists()


def test_sharing_an_invoice_before_its_pdf_is_rendered_is_a_conflict(api_client, tenant):
    invoice = InvoiceFactory(tenant=tenant, number="2026-8")
    response = _share(api_client, resource_type="invoice_pdf", resource_id=str(invoice.pk))
    assert response.status_code == 409
    assert "no PDF yet" in response.json()["detail"]
    assert not PublicLink.objects.exists()


@pytest.mark.parametrize("resource_id", ["²", "١٢", "-1", "1.0"])
def test_an_id_that_is_not_plain_digits_finds_nothing(api_client, tenant, resource_id):
    Deck.objects.create(tenant=tenant, title="Deck")
    response = _share(api_client, resource_type="deck", resource_id=resource_id)
    assert response.status_code == 404
    assert not PublicLink.objects.exists()


def test_a_resource_named_two_ways_is_stored_one_way(api_client, tenant):
    deck = Deck.objects.create(tenant=tenant, title="Deck")
    generation = Job.objects.create(tenant=tenant, type="flashcard_generation")
    Flashcard.objects.create(
        tenant=tenant, job=generation, generation_id=generation.pk, question="Q", answer="A"
    )
    for resource_type, written in [
        ("deck", f"00{deck.pk}"),
        ("flashcard_set", str(generation.pk).upper()),
    ]:
        created = _share(api_client, resource_type=resource_type, resource_id=written)
        assert created.status_code == 201
    assert set(PublicLink.objects.values_list("resource_id", flat=True)) == {
        str(deck.pk),
        str(generation.pk),
    }


def test_another_workspaces_links_are_not_found(api_client, other_api_client, tenant):
    deck = Deck.objects.create(tenant=tenant, title="Mine")
    created = _share(api_client, resource_type="deck", resource_id=str(deck.pk)).json()
    assert other_api_client.get(f"/api/v1/share-links/{created['id']}").status_code == 404
    assert other_api_client.delete(f"/api/v1/share-links/{created['id']}").status_code == 404
    assert PublicLink.objects.get().is_active


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"expires_at": "soon"}, "expires_at"),
        ({"max_views": 0}, "max_views"),
        ({"max_views": "many"}, "max_views"),
        ({"resource_type": "spreadsheet"}, "resource_type"),
    ],
)
def test_bad_links_are_400(api_client, tenant, change, field):
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    response = _share(
        api_client, **{"resource_type": "deck", "resource_id": str(deck.pk), **change}
    )
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not PublicLink.objects.exists()


def test_a_link_more_than_a_year_out_is_400(api_client, tenant):
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    far = (timezone.now() + timedelta(days=400)).isoformat()
    assert (
        _share(
            api_client, resource_type="deck", resource_id=str(deck.pk), expires_at=far
        ).status_code
        == 400
    )


def test_every_kind_of_resource_has_a_public_page(api_client, client, tenant, settings):
    story = Story.objects.create(
        tenant=tenant, status="ready", title="The Map", text="Once.\n\nTwice.", words=2
    )
    job = Job.objects.create(tenant=tenant, type="flashcard_generation", status="completed")
    Flashcard.objects.create(
        tenant=tenant, job=job, generation_id=job.pk, question="Capital of Norway?", answer="Oslo"
    )
    invoice = InvoiceFactory(tenant=tenant, number="2026-7")
    line(invoice, "Audit", 1, 100, 25)
    call_command("render_invoice_pdf", str(invoice.pk), stdout=StringIO())
    shared = {
        "story": (str(story.pk), "The Map"),
        "flashcard_set": (str(job.pk), "Capital of Norway?"),
        "invoice_pdf": (str(invoice.pk), "%PDF"),
    }
    for resource_type, (resource_id, expected) in shared.items():
        url = _share(api_client, resource_type=resource_type, resource_id=resource_id).json()["url"]
        response = client.get(url.removeprefix(settings.PUBLIC_BASE_URL))
        assert response.status_code == 200, resource_type
        content = b"".join(response.streaming_content) if response.streaming else response.content
        assert expected.encode() in content, resource_type
    assert Invoice.objects.get().pdf_file


def test_the_admin_filters_links_by_whether_they_open(api_client, admin_client, tenant):
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    for _ in range(2):
        _share(api_client, resource_type="deck", resource_id=str(deck.pk))
    used_up, fresh = PublicLink.objects.order_by("created_at")
    PublicLink.objects.filter(pk=used_up.pk).update(max_views=1, view_count=1)

    def shown(query):
        page = admin_client.get(f"/admin/sharelinks/publiclink/?{query}").content.decode()
        return {link.token_prefix for link in (used_up, fresh) if link.token_prefix in page}

    assert shown("opens_now=yes") == {fresh.token_prefix}
    assert shown("opens_now=no") == {used_up.token_prefix}
    assert shown("") == {fresh.token_prefix, used_up.token_prefix}


def test_staff_change_a_links_expiry_and_view_limit_but_not_what_it_opens(
    api_client, admin_client, client, tenant, settings
):
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    url = _share(api_client, resource_type="deck", resource_id=str(deck.pk)).json()["url"]
    link = PublicLink.objects.get()
    assert api_client.delete(f"/api/v1/share-links/{link.pk}").status_code == 204
    saved = admin_client.post(
        f"/admin/sharelinks/publiclink/{link.pk}/change/",
        {
            "resource_type": "Deck",
            "resource_id": "abc",
            "is_active": "on",
            "max_views": "7",
            "expires_at_0": "",
            "expires_at_1": "",
        },
    )
    assert saved.status_code == 302
    link.refresh_from_db()
    assert (link.resource_type, link.resource_id, link.max_views) == ("deck", str(deck.pk), 7)
    assert (link.is_active, link.deactivated_reason) == (False, "revoked")
    assert client.get(url.removeprefix(settings.PUBLIC_BASE_URL)).status_code == 404


@pytest.mark.parametrize(
    ("fields", "field", "error"),
    [
        ({"max_views": "0"}, "max_views", "greater than or equal to 1"),
        ({"expires_at_0": "2099-01-01", "expires_at_1": "00:00"}, "expires_at", "365 days"),
    ],
)
def test_the_admin_keeps_a_links_limits_where_the_api_does(
    api_client, admin_client, tenant, fields, field, error
):
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    _share(api_client, resource_type="deck", resource_id=str(deck.pk))
    link = PublicLink.objects.get()
    refused = admin_client.post(
        f"/admin/sharelinks/publiclink/{link.pk}/change/",
        {"max_views": "", "expires_at_0": "", "expires_at_1": "", **fields},
    )
    assert refused.status_code == 200
    assert error in str(refused.context["adminform"].form.errors[field])
    link.refresh_from_db()
    assert (link.max_views, link.expires_at) == (None, None)


def test_the_admin_deactivate_action_counts_the_links_it_deactivated(
    api_client, admin_client, tenant
):
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    for _ in range(3):
        _share(api_client, resource_type="deck", resource_id=str(deck.pk))
    revoked, *active = PublicLink.objects.order_by("created_at")
    api_client.delete(f"/api/v1/share-links/{revoked.pk}")
    answer = admin_client.post(
        "/admin/sharelinks/publiclink/",
        {"action": "deactivate", "_selected_action": [revoked.pk, *(link.pk for link in active)]},
        follow=True,
    )
    assert [str(message) for message in answer.context["messages"]] == [
        "Deactivated 2 links. 1 was already inactive."
    ]
    assert not PublicLink.objects.filter(is_active=True).exists()


def test_an_idempotent_create_never_stores_the_link_and_replays_it_as_null(api_client, tenant):
    from core.models import IdempotencyRecord

    deck = Deck.objects.create(tenant=tenant, title="Shared")
    body = {"resource_type": "deck", "resource_id": str(deck.pk)}
    first = api_client.post("/api/v1/share-links", body, format="json", HTTP_IDEMPOTENCY_KEY="s-1")
    token = first.json()["url"].rsplit("/", 1)[1]
    assert token not in str(IdempotencyRecord.objects.get().response_body)
    again = api_client.post("/api/v1/share-links", body, format="json", HTTP_IDEMPOTENCY_KEY="s-1")
    assert (again.status_code, again["Idempotent-Replayed"]) == (201, "true")
    assert again.json()["id"] == first.json()["id"] and again.json()["url"] is None
    assert PublicLink.objects.count() == 1


def test_a_flashcard_set_stays_shared_after_its_job_is_purged(api_client, client, tenant, settings):
    job = api_client.post(
        "/api/v1/generations",
        {
            "kind": "flashcards",
            "text": "Oslo is the capital of Norway. Bergen has rain.",
            "count": 1,
        },
        format="json",
    ).json()
    job_execute(job_id=job["id"])
    url = _share(api_client, resource_type="flashcard_set", resource_id=job["id"]).json()["url"]
    Job.objects.filter(pk=job["id"]).update(finished_at=timezone.now() - timedelta(days=2))
    assert jobs_purge()["deleted"] == 1
    assert not Job.objects.filter(pk=job["id"]).exists()

    page = client.get(url.removeprefix(settings.PUBLIC_BASE_URL))
    assert page.status_code == 200
    assert "Oslo" in page.content.decode()
    again = _share(api_client, resource_type="flashcard_set", resource_id=job["id"])
    assert again.status_code == 201
    cards = api_client.get(f"/api/v1/flashcards?job={job['id']}").json()["results"]
    assert len(cards) == 1


def test_a_links_own_address_ignores_the_lists_filters(api_client, tenant):
    deck = Deck.objects.create(tenant=tenant, title="Shared")
    created = _share(api_client, resource_type="deck", resource_id=str(deck.pk)).json()
    url = f"/api/v1/share-links/{created['id']}"
    assert api_client.get("/api/v1/share-links?active=false").json()["results"] == []
    for query in ("active=false", "usable=false", "usable=maybe"):
        shown = api_client.get(f"{url}?{query}")
        assert shown.status_code == 200, query
        assert shown.json()["is_active"] is True
    assert api_client.delete(f"{url}?usable=false").status_code == 204
    assert PublicLink.objects.get().is_active is False
