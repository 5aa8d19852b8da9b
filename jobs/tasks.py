from celery import shared_task
from celery.worker.request import Request
from django.db import InterfaceError, OperationalError

from accounts.login_lockout import admin_login_records_purge
from core.idempotency import idempotency_records_purge
from core.ratelimit import rate_limit_buckets_purge
from core.request_context import bind_log_context
from jobs import monitoring, services
from jobs.registry import DEFAULT_TIME_LIMIT, HARD_LIMIT_MARGIN, job_type_get
from jobs.runs import scheduled_run, task_runs_purge

# Seconds before each new delivery of a job whose claim found the database out of reach; after
# the last, the sweeper publishes the job again once its message is JOBS_STALE_AFTER_SECONDS old.
CLAIM_RETRY_DELAYS = (1, 5, 15, 30)


class JobRequest(Request):
    """An attempt runs under the time limits of the worker that runs it (its JOBS_TIME_LIMITS, the
    figure its TIMEOUT error quotes), whichever process published the message: a web process,
    another worker or beat, each perhaps started before the setting changed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        job_type = job_type_get(self.kwargs.get("type_name") or "")
        if job_type is not None:
            self.time_limits = job_type.time_limits
        else:
            self.time_limits = (DEFAULT_TIME_LIMIT + HARD_LIMIT_MARGIN, DEFAULT_TIME_LIMIT)


@shared_task(name="jobs.job_execute", ignore_result=True, bind=True, Request=JobRequest)
def job_execute(self, *, job_id: str, type_name: str | None = None) -> None:
    try:
        job = services.job_execute(job_id=job_id, type_name=type_name)
    except (OperationalError, InterfaceError) as exc:
        # A failover or a network blip: deliver the message again shortly. Whatever the attempt
        # got to, the claim makes a second delivery harmless.
        retries = self.request.retries
        if retries >= len(CLAIM_RETRY_DELAYS):
            raise
        raise self.retry(
            exc=exc, countdown=CLAIM_RETRY_DELAYS[retries], max_retries=len(CLAIM_RETRY_DELAYS)
        ) from exc
    if job is not None:
        # Celery's "succeeded" line, written once this returns, names the workspace as the
        # attempt's own lines did; the task's end (task_postrun) unbinds it.
        bind_log_context(tenant=job.tenant.slug)


@shared_task(name="jobs.jobs_sweep", ignore_result=True)
def jobs_sweep() -> dict:
    return scheduled_run("jobs_sweep", services.jobs_sweep, lock_ttl=120)


@shared_task(name="jobs.jobs_reap_stale", ignore_result=True)
def jobs_reap_stale() -> dict:
    return scheduled_run("jobs_reap_stale", services.jobs_reap_stale, lock_ttl=120)


def _purge() -> dict:
    return {
        **services.jobs_purge(),
        "idempotency_keys": idempotency_records_purge(),
        "task_runs": task_runs_purge(),
        **admin_login_records_purge(),
        "rate_limit_counts": rate_limit_buckets_purge(),
    }


@shared_task(name="jobs.jobs_purge", ignore_result=True)
def jobs_purge() -> dict:
    return scheduled_run("jobs_purge", _purge, lock_ttl=3600)


@shared_task(name="jobs.ops_health_check", ignore_result=True)
def ops_health_check() -> dict:
    return scheduled_run(monitoring.HEALTH_CHECK, monitoring.ops_health_check, lock_ttl=240)
