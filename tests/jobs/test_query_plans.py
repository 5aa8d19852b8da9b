"""The engine's recurring queries read what they need from an index however long the history is."""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs.models import Job
from jobs.selectors import job_mean_duration
from jobs.services import jobs_purge, jobs_sweep
from tests.jobs.factories import JobFactory
from tests.plans import query_plans


def _history(tenant, finished_at) -> None:
    JobFactory.create_batch(
        5,
        tenant=tenant,
        status=Job.Status.COMPLETED,
        started_at=finished_at,
        finished_at=finished_at,
    )


def test_the_sweeper_reads_the_oldest_pending_jobs_without_walking_finished_ones(tenant, published):
    _history(tenant, timezone.now())
    JobFactory(tenant=tenant)
    with CaptureQueriesContext(connection) as captured:
        jobs_sweep()
    (plan,) = query_plans(
        captured,
        "jobs_job",
        containing='ORDER BY "jobs_job"."created_at" ASC',
        off=("seqscan", "sort"),
    )
    assert "job_pending_created_idx" in plan, plan


def test_the_purge_picks_its_batches_in_no_order(tenant, settings):
    _history(tenant, timezone.now() - timedelta(days=30))
    with CaptureQueriesContext(connection) as captured:
        assert jobs_purge() == {"deleted": 5}
    batches = [q["sql"] for q in captured if q["sql"].startswith('SELECT "jobs_job"."id"')]
    assert batches
    # Ordered by creation (the model's ordering), it would walk every job kept to reach them.
    assert not any("ORDER BY" in sql for sql in batches), batches


def test_a_types_recent_durations_come_from_an_index(tenant):
    _history(tenant, timezone.now() - timedelta(hours=2))
    with CaptureQueriesContext(connection) as captured:
        job_mean_duration("diagnostic")
    (plan,) = query_plans(captured, "jobs_job")
    assert "job_type_finished_idx" in plan, plan


def test_a_workspaces_list_reads_only_its_own_jobs_newest_first(api_client, tenant, other_tenant):
    _history(other_tenant, timezone.now())
    _history(tenant, timezone.now())
    with CaptureQueriesContext(connection) as captured:
        assert api_client.get("/api/v1/jobs").status_code == 200
    (plan,) = query_plans(captured, "jobs_job", containing="LIMIT", off=("seqscan", "sort"))
    assert "Index Scan Backward using job_tenant_created_idx" in plan, plan


def test_a_purged_jobs_retries_are_found_from_an_index_of_retries_alone(tenant):
    _history(tenant, timezone.now() - timedelta(days=30))
    purged = Job.objects.first()
    retry = JobFactory(tenant=tenant, retry_of=purged)
    JobFactory.create_batch(3, tenant=tenant)  # not retries: not in the index
    with CaptureQueriesContext(connection) as captured:
        assert jobs_purge() == {"deleted": 5}
    retry.refresh_from_db()
    assert retry.retry_of is None
    (plan,) = query_plans(captured, "jobs_job", "retry_of_id", statement="UPDATE")
    assert "job_retry_of_idx" in plan, plan


def test_a_deleted_users_submissions_are_found_from_an_index(tenant, tenant_admin):
    submitted = JobFactory(tenant=tenant, submitted_by=tenant_admin)
    JobFactory.create_batch(3, tenant=tenant)
    with CaptureQueriesContext(connection) as captured:
        get_user_model().objects.filter(pk=tenant_admin.pk).delete()
    submitted.refresh_from_db()
    assert submitted.submitted_by is None
    (plan,) = query_plans(captured, "jobs_job", "submitted_by_id", statement="UPDATE")
    assert "job_submitted_by_idx" in plan, plan
