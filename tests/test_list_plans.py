"""The lists of the tables that grow with a workspace's history read one page from an index, and
the admin's lists name their filter choices without reading the table: however many links, view
events or entries a year leaves."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditEvent
from accounts.services import credits_grant
from budgets.models import MaterialEntry, TimeEntry
from generations.models import Deck
from jobs.models import Job, JobEvent, TaskRun
from sharelinks.models import PublicLink, PublicLinkEvent
from sharelinks.services import share_link_create
from tests.budgets.factories import ProjectFactory, hours, material
from tests.jobs.factories import JobFactory
from tests.plans import query_plans


def _get(client, url: str):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, (url, response.content[:500])
    return response, captured


def _sorted(client, url: str, table: str) -> tuple[list[str], str]:
    """The columns an admin list offers to sort by, and the query that read its page."""
    page, captured = _get(client, url)
    headers = re.findall(r'<th scope="col" class="sortable column-(\w+)', page.content.decode())
    (listed,) = [
        q["sql"] for q in captured if f'FROM "{table}"' in q["sql"] and "ORDER BY" in q["sql"]
    ]
    return headers, listed


def _listed(page, url: str) -> list[int]:
    """The ids of the admin list's rows, in order."""
    return [int(pk) for pk in re.findall(rf'href="{url}(\d+)/change/', page.content.decode())]


def _links(tenant, count: int) -> list[PublicLink]:
    deck = Deck.objects.create(tenant=tenant, title="Deck")
    return [
        share_link_create(tenant=tenant, resource_type="deck", resource_id=str(deck.pk))[0]
        for _ in range(count)
    ]


def _entries(tenant, count: int) -> None:
    project = ProjectFactory(tenant=tenant)
    for n in range(count):
        hours(project, 1)
        material(project, n + 1)


def test_a_workspaces_share_links_are_read_newest_first_from_an_index(
    api_client, tenant, other_tenant
):
    _links(other_tenant, 2)
    older, newer = _links(tenant, 2)
    PublicLink.objects.filter(pk=older.pk).update(created_at=timezone.now() - timedelta(days=1))

    for url in ["/api/v1/share-links", "/api/v1/share-links?usable=true"]:
        response, captured = _get(api_client, url)

        assert [link["id"] for link in response.json()["results"]] == [newer.pk, older.pk]
        # Not every link of the workspace sorted for its first page.
        (plan,) = query_plans(
            captured, "sharelinks_publiclink", "LIMIT", off=("seqscan", "sort", "bitmapscan")
        )
        assert "Index Scan using publiclink_tenant_newest" in plan, plan


@pytest.mark.parametrize(
    ("url", "table", "index"),
    [
        ("/api/v1/time-entries", "budgets_timeentry", "timeentry_tenant_newest"),
        ("/api/v1/material-entries", "budgets_materialentry", "materialentry_tenant_newest"),
    ],
)
def test_a_workspaces_entries_are_read_newest_first_from_an_index(
    api_client, tenant, other_tenant, url, table, index
):
    _entries(other_tenant, 2)
    _entries(tenant, 2)

    response, captured = _get(api_client, url)

    assert len(response.json()["results"]) == 2
    (plan,) = query_plans(captured, table, "LIMIT", off=("seqscan", "sort", "bitmapscan"))
    assert f"Index Scan using {index}" in plan, plan


@pytest.mark.parametrize(
    ("url", "table"),
    [
        ("/admin/sharelinks/publiclink/", "sharelinks_publiclink"),
        ("/admin/budgets/timeentry/", "budgets_timeentry"),
        ("/admin/budgets/materialentry/", "budgets_materialentry"),
    ],
)
def test_the_admins_list_reads_one_page_newest_first_along_the_primary_key(
    admin_client, tenant, url, table
):
    # More than a page, so the list reads one page of them, as it does at volume.
    _links(tenant, 1)
    PublicLink.objects.bulk_create(
        PublicLink(tenant=tenant, resource_type="deck", resource_id="1", token_hash=f"{n:064}")
        for n in range(100)
    )
    project = ProjectFactory(tenant=tenant)
    TimeEntry.objects.bulk_create(
        TimeEntry(tenant=tenant, project=project, hours=1, rate=0) for _ in range(101)
    )
    MaterialEntry.objects.bulk_create(
        MaterialEntry(tenant=tenant, project=project, amount=1) for _ in range(101)
    )
    newest = {
        "sharelinks_publiclink": PublicLink,
        "budgets_timeentry": TimeEntry,
        "budgets_materialentry": MaterialEntry,
    }[table].objects.latest("pk")

    page, captured = _get(admin_client, url)

    assert _listed(page, url)[0] == newest.pk
    plans = query_plans(captured, table, off=("seqscan", "sort"))
    listed = [plan for plan in plans if "Limit" in plan]
    assert listed
    for plan in listed:
        assert f"Index Scan Backward using {table}_pkey" in plan and "Sort" not in plan, plan


def _runs() -> list[TaskRun]:
    """Runs of two scheduled tasks, a minute apart, oldest first."""
    start = timezone.now() - timedelta(hours=1)
    return [
        TaskRun.objects.create(
            name=name, started_at=start + timedelta(minutes=n), outcome=TaskRun.Outcome.OK
        )
        for n, name in enumerate(["jobs_sweep", "jobs_purge", "jobs_sweep"])
    ]


def _audited(tenant, *resource_types: str) -> None:
    AuditEvent.objects.bulk_create(
        AuditEvent(
            tenant=tenant,
            resource_type=resource_type,
            resource_id="1",
            action=AuditEvent.Action.CREATE,
            actor_type=AuditEvent.ActorType.WORKER,
        )
        for resource_type in resource_types
    )


@pytest.mark.parametrize(
    "url",
    [
        "/admin/sharelinks/publiclink/",
        "/admin/sharelinks/publiclinkevent/",
        "/admin/budgets/timeentry/",
        "/admin/budgets/materialentry/",
        "/admin/jobs/job/",
        "/admin/accounts/auditevent/",
        "/admin/jobs/taskrun/",
    ],
)
def test_the_admins_list_names_its_filter_choices_without_reading_the_table(
    admin_client, tenant, url
):
    for link in _links(tenant, 2):
        PublicLinkEvent.objects.create(link=link, user_agent="firefox")
    _entries(tenant, 2)
    JobFactory(tenant=tenant, type="diagnostic")
    _audited(tenant, "budgets.timeentry", "invoices.invoice", "budgets.timeentry")
    _runs()

    page, captured = _get(admin_client, url)

    page = page.content.decode()
    # Neither the values of a column (a field's default filter) nor the years of a date hierarchy:
    # each would read every row of the table on every page.
    assert not [q["sql"] for q in captured if "DISTINCT" in q["sql"]]
    assert not [q["sql"] for q in captured if "MAX(" in q["sql"]]
    if "publiclinkevent" in url:
        assert "?user_agent=firefox" in page and "?user_agent=chrome" in page
    if url.endswith("publiclink/"):
        assert "?resource_type=deck" in page and "?resource_type=invoice_pdf" in page
    if "/jobs/job/" in url:
        # Every registered type, whether or not a job of it is stored; the days by the date filter.
        assert "?type=diagnostic" in page and "?type=story_generation" in page
        assert "?created_at__gte=" in page
    if "auditevent" in url:
        # The types the log holds, each once.
        types = re.findall(r'\?resource_type=([\w.]+)"', page)
        assert types == ["budgets.timeentry", "invoices.invoice", "sharelinks.publiclink"]
    if "taskrun" in url:
        # The tasks that ran, each once; the days by the date filter.
        assert re.findall(r'\?name=(\w+)"', page) == ["jobs_purge", "jobs_sweep"]
        assert "?started_at__gte=" in page


def test_the_admins_filters_of_links_and_view_events_narrow_the_list(admin_client, tenant):
    deck_link, other_link = _links(tenant, 2)
    PublicLink.objects.filter(pk=other_link.pk).update(resource_type="story")
    PublicLinkEvent.objects.create(link=deck_link, user_agent="firefox")
    PublicLinkEvent.objects.create(link=other_link, user_agent="chrome")

    url = "/admin/sharelinks/publiclink/"
    page, _ = _get(admin_client, f"{url}?resource_type=deck")
    assert _listed(page, url) == [deck_link.pk]

    page, _ = _get(admin_client, "/admin/sharelinks/publiclinkevent/?user_agent=chrome")
    shown = re.findall(r'class="field-user_agent">(\w+)<', page.content.decode())
    assert shown == ["chrome"]


def test_the_admins_filters_of_jobs_and_the_audit_log_narrow_the_list(admin_client, tenant):
    diagnostic = JobFactory(tenant=tenant, type="diagnostic")
    JobFactory(tenant=tenant, type="story_generation")
    _audited(tenant, "budgets.timeentry", "invoices.invoice")

    url = "/admin/jobs/job/"
    page, _ = _get(admin_client, f"{url}?type=diagnostic")
    assert re.findall(rf'href="{url}([\w-]+)/change/', page.content.decode()) == [
        str(diagnostic.pk)
    ]

    page, _ = _get(admin_client, "/admin/accounts/auditevent/?resource_type=invoices.invoice")
    shown = re.findall(r'class="field-resource_type">([\w.]+)<', page.content.decode())
    assert shown == ["invoices.invoice"]


@pytest.mark.parametrize(
    "url",
    [
        "/admin/jobs/job/",
        "/admin/jobs/jobevent/",
        "/admin/accounts/creditentry/",
        "/admin/accounts/auditevent/",
        "/admin/sharelinks/publiclink/",
        "/admin/sharelinks/publiclinkevent/",
        "/admin/budgets/timeentry/",
        "/admin/jobs/taskrun/",
    ],
)
def test_the_lists_of_large_tables_offer_no_counts_of_every_filter_choice(
    admin_client, tenant, url
):
    JobFactory(tenant=tenant, status=Job.Status.FAILED)
    _links(tenant, 1)
    _runs()

    page, captured = _get(admin_client, f"{url}?_facets=True")

    # Each count would read the whole table, for every choice of every filter.
    assert "Show counts" not in page.content.decode()
    assert not [q["sql"] for q in captured if "FILTER (WHERE" in q["sql"]]


@pytest.mark.parametrize(
    ("url", "table", "column"),
    [
        ("/admin/accounts/creditentry/", "accounts_creditentry", 3),
        ("/admin/accounts/auditevent/", "accounts_auditevent", 3),
        ("/admin/sharelinks/publiclinkevent/", "sharelinks_publiclinkevent", 3),
        ("/admin/jobs/jobevent/", "jobs_jobevent", 3),
    ],
)
def test_the_histories_are_sorted_by_time_only(admin_client, tenant, url, table, column):
    for amount in range(1, 4):
        credits_grant(tenant=tenant, amount=amount, reason="Grant")
    _audited(tenant, "invoices.invoice", "budgets.timeentry")
    for link in _links(tenant, 2):
        PublicLinkEvent.objects.create(link=link, user_agent="firefox")
    job = JobFactory(tenant=tenant)
    for kind in [JobEvent.Kind.STARTED, JobEvent.Kind.FAILED]:
        JobEvent.objects.create(job=job, kind=kind)

    # One sortable column, the time, which an index keeps in order: any other, even asked for
    # (`?o=`), would sort every row of a table that is never purged or is the largest.
    headers, listed = _sorted(admin_client, f"{url}?o={column}", table)
    assert headers == ["created_at"]
    assert f'ORDER BY "{table}"."created_at" DESC' in listed, listed


@pytest.mark.parametrize(
    ("url", "table"),
    [
        ("/admin/budgets/timeentry/", "budgets_timeentry"),
        ("/admin/budgets/materialentry/", "budgets_materialentry"),
    ],
)
def test_entries_are_sorted_by_the_day_worked_or_newest_recorded_first(
    admin_client, tenant, url, table
):
    _entries(tenant, 2)

    # The Date column only: a sort by hours, amount or description would sort the whole table.
    headers, listed = _sorted(admin_client, f"{url}?o=3", table)
    assert headers == ["date"]
    assert f'ORDER BY "{table}"."id" DESC' in listed, listed


def test_task_runs_are_sorted_by_their_start_only_read_newest_first_from_an_index(admin_client):
    start = timezone.now() - timedelta(days=1)
    TaskRun.objects.bulk_create(
        TaskRun(name="jobs_sweep", started_at=start + timedelta(minutes=n)) for n in range(150)
    )
    newest = TaskRun.objects.latest("started_at")
    url = "/admin/jobs/taskrun/"

    # By outcome or counts (?o=4, an old bookmark): every run, one a minute from each of the
    # sweeper and the reaper, sorted for one page.
    headers, listed = _sorted(admin_client, f"{url}?o=4", "jobs_taskrun")
    assert headers == ["started_at"]
    assert 'ORDER BY "jobs_taskrun"."started_at" DESC' in listed, listed

    page, captured = _get(admin_client, url)
    assert _listed(page, url)[0] == newest.pk
    plans = query_plans(captured, "jobs_taskrun", "ORDER BY", off=("seqscan", "sort"))
    (plan,) = [plan for plan in plans if "Limit" in plan]
    assert "Index Scan Backward using taskrun_started_idx" in plan and "Sort" not in plan, plan
