"""A shared resource deleted takes its links out of use, whichever way it goes."""

import importlib
import re
import uuid
from io import StringIO

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditEvent, Tenant
from generations.models import Deck, Flashcard
from jobs.models import Job
from sharelinks.models import PublicLink
from sharelinks.services import share_link_create, share_link_revoke
from tests.invoices.factories import InvoiceFactory, line


def _shown(api_client, link) -> tuple:
    shown = api_client.get(f"/api/v1/share-links/{link.pk}").json()
    return shown["is_active"], shown["is_usable"], shown["deactivated_reason"]


def test_a_deck_deleted_in_the_admin_ends_its_links_and_no_other(
    api_client, admin_client, admin_user, client, tenant
):
    deck, kept = (Deck.objects.create(tenant=tenant, title=title) for title in ("Gone", "Kept"))
    link, token = share_link_create(tenant=tenant, resource_type="deck", resource_id=deck.pk)
    other, _ = share_link_create(tenant=tenant, resource_type="deck", resource_id=kept.pk)

    deleted = admin_client.post(f"/admin/generations/deck/{deck.pk}/delete/", {"post": "yes"})

    assert deleted.status_code == 302
    assert _shown(api_client, link) == (False, False, "resource_deleted")
    assert _shown(api_client, other) == (True, True, None)
    assert api_client.get("/api/v1/share-links?usable=true").json()["results"][0]["id"] == other.pk
    event = AuditEvent.objects.get(action="deactivate", resource_id=str(link.pk))
    assert event.metadata == {"reason": "resource_deleted"}
    # Ended by whoever deleted the deck.
    assert (event.actor_type, event.actor_label) == ("user", admin_user.get_username())
    assert client.get(f"/s/{token}").status_code == 404


def test_a_deletion_page_says_how_many_links_stop_opening(admin_client, tenant):
    decks = [Deck.objects.create(tenant=tenant, title=title) for title in ("One", "Two", "Kept")]
    for deck in decks:
        share_link_create(tenant=tenant, resource_type="deck", resource_id=deck.pk)
    revoked, _ = share_link_create(tenant=tenant, resource_type="deck", resource_id=decks[0].pk)
    share_link_revoke(link=revoked)

    def summary(path, data=None):
        page = admin_client.post(path, data) if data else admin_client.get(path)
        assert page.status_code == 200
        return [" ".join(item.split()) for item in re.findall(r"<li>(.*?)</li>", page.text, re.S)]

    one = summary(f"/admin/generations/deck/{decks[2].pk}/delete/")
    assert "Share link that stops opening (kept, deactivated): 1" in one
    two = summary(
        "/admin/generations/deck/",
        {"action": "delete_selected", "_selected_action": [decks[0].pk, decks[1].pk]},
    )
    assert "Share links that stop opening (kept, deactivated): 2" in two
    job = Job.objects.create(tenant=tenant, type="flashcard_generation", status="completed")
    cards = [
        Flashcard.objects.create(
            tenant=tenant, job=job, generation_id=job.pk, question=q, answer="a"
        )
        for q in ("One?", "Two?")
    ]
    share_link_create(tenant=tenant, resource_type="flashcard_set", resource_id=job.pk)
    # A set is shared until its last card goes.
    assert not any(
        "stop" in item for item in summary(f"/admin/generations/flashcard/{cards[0].pk}/delete/")
    )
    both = summary(
        "/admin/generations/flashcard/",
        {"action": "delete_selected", "_selected_action": [card.pk for card in cards]},
    )
    assert "Share link that stops opening (kept, deactivated): 1" in both


def test_a_draft_invoice_deleted_through_the_api_ends_its_pdfs_links(api_client, tenant):
    invoice = InvoiceFactory(tenant=tenant, number="2026-5")
    line(invoice, "Audit", 1, 100, 25)
    call_command("render_invoice_pdf", str(invoice.pk), stdout=StringIO())
    link, _ = share_link_create(tenant=tenant, resource_type="invoice_pdf", resource_id=invoice.pk)

    assert api_client.delete(f"/api/v1/invoices/{invoice.pk}").status_code == 204

    assert _shown(api_client, link) == (False, False, "resource_deleted")
    event = AuditEvent.objects.get(action="deactivate", resource_id=str(link.pk))
    assert event.actor_type == "api_key" and event.actor_label.endswith("(alice key)")


def test_a_flashcard_set_stays_shared_until_its_last_card_goes(api_client, tenant):
    job = Job.objects.create(tenant=tenant, type="flashcard_generation", status="completed")
    first, last = (
        Flashcard.objects.create(
            tenant=tenant, job=job, generation_id=job.pk, question=q, answer="a"
        )
        for q in ("One?", "Two?")
    )
    link, _ = share_link_create(tenant=tenant, resource_type="flashcard_set", resource_id=job.pk)

    first.delete()
    assert _shown(api_client, link) == (True, True, None)
    last.delete()
    assert _shown(api_client, link) == (False, False, "resource_deleted")


@pytest.mark.parametrize("where", ["admin", "delete_tenant"])
def test_a_workspace_deleted_takes_its_shared_resources_and_links_with_it(
    tenant, admin_client, where
):
    for title in ("One", "Two"):
        deck = Deck.objects.create(tenant=tenant, title=title)
        share_link_create(tenant=tenant, resource_type="deck", resource_id=deck.pk)

    if where == "admin":
        deleted = admin_client.post(f"/admin/accounts/tenant/{tenant.pk}/delete/", {"post": "yes"})
        assert deleted.status_code == 302
    else:
        call_command("delete_tenant", tenant.slug, "--no-input", stdout=StringIO())

    assert not Tenant.objects.filter(pk=tenant.pk).exists()
    assert not PublicLink.objects.exists() and not AuditEvent.objects.exists()


def test_the_upgrade_ends_the_links_of_resources_deleted_before_it(tenant, other_tenant):
    migration = importlib.import_module("sharelinks.migrations.0006_end_links_of_deleted_resources")
    deck = Deck.objects.create(tenant=tenant, title="Kept")
    bobs = Deck.objects.create(tenant=other_tenant, title="Bob's")
    job = Job.objects.create(tenant=tenant, type="flashcard_generation", status="completed")
    Flashcard.objects.create(tenant=tenant, job=job, generation_id=job.pk, question="Q", answer="A")

    def link(resource_type, resource_id, **fields):
        return PublicLink.objects.create(
            tenant=tenant,
            resource_type=resource_type,
            resource_id=str(resource_id),
            token_hash=uuid.uuid4().hex,
            **fields,
        )

    kept = [link("deck", deck.pk), link("flashcard_set", job.pk)]
    revoked = link("deck", deck.pk + bobs.pk + 1, is_active=False, deactivated_reason="revoked")
    gone = [
        link("deck", deck.pk + bobs.pk + 1),
        link("deck", bobs.pk),
        link("story", 1),
        link("skill_tree", 1),
        link("image", 1),
        link("invoice_pdf", 1),
        link("flashcard_set", uuid.uuid4()),
    ]

    migration.end_links_of_deleted_resources(apps, None)

    active = PublicLink.objects.filter(is_active=True).values_list("pk", flat=True)
    assert sorted(active) == sorted(link.pk for link in kept)
    ended = PublicLink.objects.filter(deactivated_reason="resource_deleted")
    assert sorted(ended.values_list("pk", flat=True)) == sorted(link.pk for link in gone)
    assert PublicLink.objects.get(pk=revoked.pk).deactivated_reason == "revoked"
    audited = AuditEvent.objects.filter(
        action="deactivate", metadata={"reason": "resource_deleted"}
    )
    assert sorted(int(event.resource_id) for event in audited) == sorted(link.pk for link in gone)


def _workspace_deletion_queries(slug: str, shared: int) -> int:
    """The queries `delete_tenant` makes for a workspace of `shared` decks and as many flashcard
    sets of 10 cards, each shared."""
    tenant = Tenant.objects.create(name=slug, slug=slug)
    for _ in range(shared):
        deck = Deck.objects.create(tenant=tenant, title="Shared")
        share_link_create(tenant=tenant, resource_type="deck", resource_id=deck.pk)
        job = Job.objects.create(tenant=tenant, type="flashcard_generation", status="completed")
        Flashcard.objects.bulk_create(
            Flashcard(tenant=tenant, job=job, generation_id=job.pk, question="Q?", answer="A")
            for _ in range(10)
        )
        share_link_create(tenant=tenant, resource_type="flashcard_set", resource_id=job.pk)
    with CaptureQueriesContext(connection) as queries:
        call_command("delete_tenant", slug, "--no-input", stdout=StringIO())
    assert not Tenant.objects.filter(slug=slug).exists()
    return len(queries)


def test_delete_tenant_makes_no_more_queries_for_more_shared_resources(db):
    # Each deck and card deleted would otherwise look for its links, and deactivate and audit
    # them, one by one: hours for a workspace of millions of cards.
    assert _workspace_deletion_queries("small", 2) == _workspace_deletion_queries("large", 9)
