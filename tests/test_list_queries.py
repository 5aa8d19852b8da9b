"""A list costs the same few queries however many rows its page holds."""

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import credits_grant, notify_admins
from budgets.models import BudgetAlert, MaterialEntry
from generations.models import Deck, GeneratedImage, SkillNode, SkillTree, Slide
from jobs.models import Job
from sharelinks.services import share_link_create
from tests.budgets.factories import ProjectBudgetFactory, ProjectFactory, hours
from tests.invoices.factories import InvoiceFactory, line
from tests.jobs.factories import JobFactory

LISTS = [
    "/api/v1/jobs",
    "/api/v1/jobs?status=pending",
    "/api/v1/projects",
    "/api/v1/time-entries",
    "/api/v1/material-entries",
    "/api/v1/budget-alerts",
    "/api/v1/clients",
    "/api/v1/invoices",
    "/api/v1/share-links",
    "/api/v1/api-keys",
    "/api/v1/credit-entries",
    "/api/v1/audit-events",
    "/api/v1/notifications",
    "/api/v1/decks",
    "/api/v1/skill-trees",
    "/api/v1/images",
]


def _add_rows(tenant, count):
    for _ in range(count):
        JobFactory(tenant=tenant)
        JobFactory(tenant=tenant, status=Job.Status.COMPLETED)
        credits_grant(tenant=tenant, amount=1, reason="Row")
        project = ProjectFactory(tenant=tenant)
        ProjectBudgetFactory(project=project, tenant=tenant)
        hours(project, 1)
        MaterialEntry.objects.create(tenant=tenant, project=project, amount=5)
        BudgetAlert.objects.create(
            tenant=tenant, project=project, type="hours", threshold=80, current_percentage=90
        )
        invoice = InvoiceFactory(tenant=tenant)
        line(invoice, "Work", 1, 100, 25)
        deck = Deck.objects.create(tenant=tenant, title="Deck")
        Slide.objects.create(deck=deck, position=0, title="Slide")
        tree = SkillTree.objects.create(tenant=tenant, name="Tree")
        SkillNode.objects.create(tree=tree, name="Root", depth=1, position=0)
        GeneratedImage.objects.create(
            tenant=tenant, prompt="Row", file="generations/row.png", width=8, height=8
        )
        share_link_create(tenant=tenant, resource_type="deck", resource_id=str(deck.pk))
        notify_admins(tenant=tenant, kind="storage_full", title="Row")


def _queries(client, url) -> int:
    caches["local"].clear()
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.content[:500])
    return len(captured.captured_queries)


@pytest.mark.parametrize("url", LISTS)
def test_a_list_costs_no_query_per_row(api_client, tenant, tenant_admin, url):
    _add_rows(tenant, 2)
    api_client.get(url)
    few = _queries(api_client, url)
    _add_rows(tenant, 10)
    assert _queries(api_client, url) == few


def test_the_batch_look_up_gives_every_pending_job_its_position(api_client, tenant):
    jobs = [JobFactory(tenant=tenant) for _ in range(4)]
    ids = ",".join(str(job.pk) for job in jobs)
    listed = api_client.get(f"/api/v1/jobs?ids={ids}").json()["results"]
    positions = {job["id"]: job["queue"]["position"] for job in listed}
    assert positions == {str(job.pk): index + 1 for index, job in enumerate(jobs)}
    single = api_client.get(f"/api/v1/jobs/{jobs[2].pk}").json()["queue"]
    assert single == next(job["queue"] for job in listed if job["id"] == str(jobs[2].pk))
