"""The jobs admin during an incident: the latest history first, read from indexes however many
jobs and events the tables hold."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import JobEvent
from tests.jobs.factories import JobFactory


def _page(client, url: str) -> tuple[str, CaptureQueriesContext]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200
    return response.content.decode(), captured


def _plans(captured: CaptureQueriesContext, table: str) -> list[str]:
    """How PostgreSQL would run the page's SELECTs from `table` once scanning it all costs more
    than an index (on a test's few rows it would rather scan)."""
    plans = []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for query in captured.captured_queries:
            if query["sql"].startswith("SELECT") and f'FROM "{table}"' in query["sql"]:
                cursor.execute(f"EXPLAIN {query['sql']}")
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert plans
    return plans


def test_the_job_events_list_shows_the_newest_first_from_an_index(admin_client, tenant):
    job = JobFactory(tenant=tenant)
    now = timezone.now()
    JobEvent.objects.create(
        job=job, kind=JobEvent.Kind.STARTED, message="a month ago", created_at=now - timedelta(30)
    )
    JobEvent.objects.create(job=job, kind=JobEvent.Kind.FAILED, message="just now", created_at=now)
    # More than a page, so the list reads one page of them, as it does at volume.
    JobEvent.objects.bulk_create(
        JobEvent(job=job, kind=JobEvent.Kind.STARTED, created_at=now - timedelta(days=60))
        for _ in range(100)
    )

    page, captured = _page(admin_client, "/admin/jobs/jobevent/")

    assert page.index("just now") < page.index("a month ago")
    listed = [plan for plan in _plans(captured, "jobs_jobevent") if "Limit" in plan]
    assert listed
    for plan in listed:
        assert "jobevent_created_idx" in plan and "Sort" not in plan, plan
