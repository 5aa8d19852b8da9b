"""The admin's search boxes over the tables that grow (the audit log, the ledger, share links,
invoices, job events, time and material entries) find their rows through indexes, not by reading
every row: a word of a column through its trigram index, a workspace, a client or a project through
the objects' foreign key."""

import re

import pytest
from django.contrib import admin
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.admin import RelatedSearchedFirst
from accounts.models import AuditEvent
from accounts.services import credits_grant
from jobs.models import JobEvent
from sharelinks.models import PublicLink, PublicLinkEvent
from tests.budgets.factories import ProjectFactory, hours, material
from tests.invoices.factories import ClientFactory, InvoiceFactory
from tests.jobs.factories import JobFactory
from tests.plans import query_plans


def _search(client, url: str, term: str) -> tuple[str, CaptureQueriesContext]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, {"q": term})
    assert response.status_code == 200
    return response.content.decode(), captured


def _listed(page: str, url: str) -> set[int]:
    return {int(pk) for pk in re.findall(rf'href="{url}(\d+)/change/', page)}


def _events(tenant, *resources: tuple[str, str]) -> list[AuditEvent]:
    return AuditEvent.objects.bulk_create(
        AuditEvent(
            tenant=tenant,
            resource_type="invoices.invoice",
            resource_id=resource_id,
            action=AuditEvent.Action.UPDATE,
            actor_type=AuditEvent.ActorType.USER,
            actor_label=actor,
        )
        for resource_id, actor in resources
    )


def _links(tenant, *resources: tuple[str, str]) -> list[PublicLink]:
    return PublicLink.objects.bulk_create(
        PublicLink(
            tenant=tenant,
            resource_type="deck",
            resource_id=resource_id,
            token_prefix=prefix,
            token_hash=f"{prefix}{resource_id}".ljust(64, "0"),
        )
        for resource_id, prefix in resources
    )


def _indexes_read(plan: str) -> set[str]:
    return set(re.findall(r"Index Scan on (\w+)", plan))


def test_an_audit_event_is_found_by_its_resource_id_whole_its_actor_or_its_workspace(
    admin_client, tenant, other_tenant
):
    (alices_42, alices_142, alices_7) = _events(
        tenant, ("42", "ada@example.com"), ("142", "ada@example.com"), ("7", "ada@example.com")
    )
    (bobs_42,) = _events(other_tenant, ("42", "grace@example.com"))
    url = "/admin/accounts/auditevent/"

    # The id whole: "42" is not every id holding it.
    assert _listed(_search(admin_client, url, "42")[0], url) == {alices_42.pk, bobs_42.pk}
    assert _listed(_search(admin_client, url, "GRACE@")[0], url) == {bobs_42.pk}
    assert _listed(_search(admin_client, url, "alice")[0], url) == {
        alices_42.pk,
        alices_142.pk,
        alices_7.pk,
    }
    # Each word matches a column or the workspace.
    assert _listed(_search(admin_client, url, "alice 42")[0], url) == {alices_42.pk}

    _, captured = _search(admin_client, url, "alice")
    (plan,) = query_plans(captured, "accounts_auditevent", "COUNT(*)")
    assert {"auditevent_resource_id_search", "auditevent_actor_search"} <= _indexes_read(plan)
    assert re.search(r"Index Cond: \(tenant_id = (ANY|\d)", plan), plan


@pytest.mark.parametrize(
    ("url", "table", "indexes"),
    [
        ("/admin/accounts/creditentry/", "accounts_creditentry", {"creditentry_reason_search"}),
        (
            "/admin/sharelinks/publiclink/",
            "sharelinks_publiclink",
            {"publiclink_prefix_search", "publiclink_resource_id_search"},
        ),
        (
            "/admin/invoices/invoice/",
            "invoices_invoice",
            {"invoice_number_search", "invoice_notes_search"},
        ),
        ("/admin/jobs/jobevent/", "jobs_jobevent", {"jobevent_message_search"}),
        ("/admin/budgets/timeentry/", "budgets_timeentry", {"timeentry_description_search"}),
        (
            "/admin/budgets/materialentry/",
            "budgets_materialentry",
            {"materialentry_description_search"},
        ),
        (
            "/admin/sharelinks/publiclinkevent/",
            "sharelinks_publiclinkevent",
            {"publiclink_prefix_search"},
        ),
    ],
)
def test_a_search_of_a_large_table_reads_its_indexes(admin_client, tenant, url, table, indexes):
    credits_grant(tenant=tenant, amount=5, reason="Refund of a failed story")
    (link,) = _links(tenant, ("7", "stor1234"))
    PublicLinkEvent.objects.create(link=link, user_agent="firefox")
    InvoiceFactory(tenant=tenant, number="STORY-1", notes="The story of the year")
    JobEvent.objects.create(job=JobFactory(tenant=tenant), kind=JobEvent.Kind.STARTED, message="")
    project = ProjectFactory(tenant=tenant, name="Story time")
    hours(project, 1)
    material(project, 1)

    _, captured = _search(admin_client, url, "story")

    # The count of what it found (the list's own query reads one page in the list's order).
    plans = query_plans(captured, table, "COUNT(*)", off=("seqscan", "indexscan"))
    (plan,) = [plan for plan in plans if "~~" in plan]
    assert indexes <= _indexes_read(plan), plan


def test_a_share_link_is_found_by_the_start_of_its_token_or_its_resource_id_whole(
    admin_client, tenant
):
    by_7, by_17 = _links(tenant, ("7", "ab7c0000"), ("17", "cdab0000"))
    view = PublicLinkEvent.objects.create(link=by_17, user_agent="firefox")
    url = "/admin/sharelinks/publiclink/"

    assert _listed(_search(admin_client, url, "7")[0], url) == {by_7.pk}
    assert _listed(_search(admin_client, url, "AB")[0], url) == {by_7.pk}
    events = "/admin/sharelinks/publiclinkevent/"
    assert _listed(_search(admin_client, events, "cd")[0], events) == {view.pk}
    assert _listed(_search(admin_client, events, "ab")[0], events) == set()


def test_an_invoice_is_found_by_its_clients_name_or_its_workspace(
    admin_client, tenant, other_tenant
):
    acme = ClientFactory(tenant=tenant, name="Acme Rockets")
    acmes = InvoiceFactory(tenant=tenant, client=acme)
    others = InvoiceFactory(tenant=tenant)
    bobs = InvoiceFactory(tenant=other_tenant)
    url = "/admin/invoices/invoice/"

    page, captured = _search(admin_client, url, "rocket")

    assert _listed(page, url) == {acmes.pk}
    (plan,) = [p for p in query_plans(captured, "invoices_invoice", "COUNT(*)") if "~~" in p]
    assert re.search(r"Index Cond: \(client_id = (ANY|\d)", plan), plan
    assert _listed(_search(admin_client, url, "alice")[0], url) == {acmes.pk, others.pk}
    assert _listed(_search(admin_client, url, "bob")[0], url) == {bobs.pk}


def test_a_search_with_nothing_related_to_look_up_finds_by_the_objects_own_columns(rf, tenant):
    class OwnColumnsOnly(RelatedSearchedFirst):
        search_fields = ["resource_id"]

    _events(tenant, ("42", "alice"), ("7", "bob"))
    model_admin = OwnColumnsOnly(AuditEvent, admin.site)

    found, _ = model_admin.get_search_results(rf.get("/"), AuditEvent.objects.all(), "42")

    assert [event.resource_id for event in found] == ["42"]
