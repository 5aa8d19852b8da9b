"""What a worker logs for each job, with the task body run in-process: every line names the job
and its workspace (by slug, as a request's lines do)."""

import logging
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone

from accounts.models import ApiKey
from core.logging import ContextFilter
from jobs import tasks
from jobs.errors import PermanentError
from jobs.models import Job
from jobs.registry import JobType, job_type_register
from jobs.services import job_cancel, job_claim, jobs_reap_stale
from tests.jobs.attempts import diagnostic_submit, run_due
from tests.jobs.factories import JobFactory


@pytest.fixture
def job_logs(caplog):
    """The engine's lines, with the fields the console handler adds to every record."""
    caplog.handler.addFilter(ContextFilter())
    caplog.set_level(logging.INFO)
    return caplog


def _lines(caplog, job):
    return [
        (record.levelname, record.getMessage(), record.job_id, record.tenant)
        for record in caplog.records
        if record.name == "jobs.services" and str(job.pk) in record.getMessage()
    ]


def test_an_attempt_logs_its_start_and_completion(tenant, job_logs):
    job = diagnostic_submit(tenant)
    run_due(job)
    lines = _lines(job_logs, job)
    assert [line[0] for line in lines] == ["INFO", "INFO"]
    assert lines[0][1] == f"Job {job.pk} attempt 1/3 started: diagnostic for alice."
    assert lines[1][1].startswith(f"Job {job.pk} attempt 1/3 completed in ")
    assert {line[2:] for line in lines} == {(str(job.pk), "alice")}


def test_failed_attempts_warn_of_their_retry_and_the_dead_letter_is_an_error(tenant, job_logs):
    job = diagnostic_submit(tenant, fail_attempts=5)
    for _ in range(3):
        job = run_due(job)
    assert job.status == Job.Status.FAILED
    lines = [line for line in _lines(job_logs, job) if line[0] != "INFO"]
    assert [line[0] for line in lines] == ["WARNING", "WARNING", "ERROR"]
    assert lines[0][1].startswith(
        f"Job {job.pk} attempt 1/3 failed (DIAGNOSTIC_FAILURE: Attempt 1 fails on request.);"
        " retry at 20"
    )
    assert lines[2][1] == (
        f"Job {job.pk} attempt 3/3 failed (DIAGNOSTIC_FAILURE: Attempt 3 fails on request.);"
        " no attempts left, the job is dead-lettered."
    )
    assert {line[2:] for line in lines} == {(str(job.pk), "alice")}


def test_a_permanent_error_is_logged_as_an_error_at_once(tenant, job_logs):
    job = JobFactory(tenant=tenant, type="no_such_type")
    run_due(job)
    assert _lines(job_logs, job)[-1] == (
        "ERROR",
        f"Job {job.pk} attempt 1/3 failed (UNKNOWN_TYPE: No handler is registered for"
        " 'no_such_type'.); the error is permanent, the job is dead-lettered.",
        str(job.pk),
        "alice",
    )


def test_a_long_error_message_is_cut_in_the_log_and_kept_whole_in_the_job(tenant, job_logs):
    def handler(ctx):
        raise PermanentError("PROVIDER_ERROR", "x" * 3000)

    job_type_register(JobType(name="logs_long_error_test", handler=handler))
    job = run_due(JobFactory(tenant=tenant, type="logs_long_error_test"))
    level, message, *_ = _lines(job_logs, job)[-1]
    assert level == "ERROR" and "x" * 499 + "…)" in message and len(message) < 700
    assert job.error_message == "x" * 3000


def test_a_cancel_asked_through_the_api_is_logged_with_who_asked(api_client, tenant, job_logs):
    job = JobFactory(tenant=tenant)
    assert api_client.post(f"/api/v1/jobs/{job.pk}/cancel").status_code == 200
    [(level, message, *_)] = _lines(job_logs, job)
    assert level == "INFO"
    key = ApiKey.objects.get(tenant=tenant)
    assert message == f"Job {job.pk} canceled while pending: Canceled by API key {key}."


def test_lines_a_handler_writes_name_its_job_and_workspace(tenant, job_logs):
    def handler(ctx):
        logging.getLogger("offload.handler").info("Working.")

    job_type_register(JobType(name="logs_test", handler=handler))
    job = JobFactory(tenant=tenant, type="logs_test")
    run_due(job)
    [record] = [r for r in job_logs.records if r.name == "offload.handler"]
    assert (record.job_id, record.tenant) == (str(job.pk), "alice")


def test_a_cancel_landing_on_a_running_attempt_is_logged(tenant, job_logs):
    def handler(ctx):
        job_cancel(job=Job.objects.get(pk=ctx.job.pk))
        ctx.job.refresh_from_db(fields=["cancel_requested"])
        ctx.check_canceled()

    job_type_register(JobType(name="logs_cancel_test", handler=handler))
    job = JobFactory(tenant=tenant, type="logs_cancel_test")
    job = run_due(job)
    assert job.status == Job.Status.CANCELED
    assert _lines(job_logs, job)[-1] == (
        "INFO",
        f"Job {job.pk} attempt 1/3 canceled on request.",
        str(job.pk),
        "alice",
    )


@pytest.mark.parametrize(
    ("max_attempts", "outcome"),
    [(3, "requeued"), (1, "failed as WORKER_LOST, no attempts left")],
    ids=["requeued", "failed"],
)
def test_the_reaper_logs_each_job_it_takes_from_a_lost_worker(
    tenant, published, settings, job_logs, max_attempts, outcome
):
    job = JobFactory(tenant=tenant, max_attempts=max_attempts)
    job_claim(job.pk)
    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 1)
    ):
        jobs_reap_stale()
    assert _lines(job_logs, job)[0] == (
        "INFO",
        f"Job {job.pk} attempt 1/{max_attempts}: the worker stopped responding; {outcome}.",
        str(job.pk),
        "alice",
    )


def test_the_reaper_warns_once_a_run_however_many_jobs_it_takes(
    tenant, published, settings, job_logs
):
    jobs = [JobFactory(tenant=tenant, max_attempts=3) for _ in range(12)]
    jobs.append(JobFactory(tenant=tenant, max_attempts=1))
    for job in jobs:
        job_claim(job.pk)
    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 1)
    ):
        jobs_reap_stale()
    [warning] = [record for record in job_logs.records if record.levelno >= logging.WARNING]
    summary, named = warning.getMessage().removesuffix(" and 3 more.").split(": ")
    assert summary == (
        f"The stale reaper took {len(jobs)} jobs from workers that stopped responding "
        f"(requeued {len(jobs) - 1}, failed 1 as WORKER_LOST, canceled 0 as asked)"
    )
    named = named.split(", ")
    assert len(set(named)) == 10 and set(named) <= {str(job.pk) for job in jobs}
    # Outside any one job's lines; each job has its own, at INFO.
    assert (warning.job_id, warning.tenant) == ("-", "-")
    assert all(_lines(job_logs, job)[0][0] == "INFO" for job in jobs)


def test_requeue_stale_jobs_warns_once_however_many_rounds_it_takes(
    tenant, settings, job_logs, monkeypatch
):
    monkeypatch.setattr("jobs.services.REAP_BATCH", 5)
    long_ago = timezone.now() - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 1)
    jobs = [
        JobFactory(tenant=tenant, status=Job.Status.PROCESSING, attempts=1, heartbeat_at=long_ago)
        for _ in range(12)
    ]

    call_command("requeue_stale_jobs", stdout=StringIO())

    # Three rounds, one warning: how many and which, as the scheduled reaper's.
    [warning] = [record for record in job_logs.records if record.levelno >= logging.WARNING]
    summary, named = warning.getMessage().removesuffix(" and 2 more.").split(": ")
    assert summary == (
        "The stale reaper took 12 jobs from workers that stopped responding "
        "(requeued 12, failed 0 as WORKER_LOST, canceled 0 as asked)"
    )
    named = named.split(", ")
    assert len(set(named)) == 10 and set(named) <= {str(job.pk) for job in jobs}
    assert all(_lines(job_logs, job)[0][0] == "INFO" for job in jobs)


# Transactional: the task's start closes the database connection, as it does in a worker.
@pytest.mark.django_db(transaction=True)
def test_celerys_own_line_about_a_jobs_task_names_the_job_and_workspace(tenant, job_logs):
    job = diagnostic_submit(tenant)
    tasks.job_execute.apply(kwargs={"job_id": str(job.pk), "type_name": "diagnostic"})
    [record] = [r for r in job_logs.records if "succeeded in" in r.getMessage()]
    assert (record.job_id, record.tenant) == (str(job.pk), "alice")
    logging.getLogger("offload.test").info("After the task.")
    assert (job_logs.records[-1].job_id, job_logs.records[-1].tenant) == ("-", "-")
