from celery import shared_task

from core.idempotency import idempotency_records_purge
from core.locks import named_lock
from jobs import monitoring, services
from jobs.runs import task_run


@shared_task(name="jobs.job_execute", ignore_result=True)
def job_execute(*, job_id: str, type_name: str | None = None) -> None:
    services.job_execute(job_id=job_id, type_name=type_name)


def _scheduled(name: str, work, *, lock_ttl: int):
    """Run a scheduled system task once at a time (even with two beats) and record the run."""
    with named_lock(name, ttl=lock_ttl) as acquired, task_run(name) as run:
        if not acquired:
            run.outcome = run.Outcome.SKIPPED
            return {}
        run.counts = work()
        return run.counts


@shared_task(name="jobs.jobs_sweep", ignore_result=True)
def jobs_sweep() -> dict:
    return _scheduled("jobs_sweep", services.jobs_sweep, lock_ttl=120)


@shared_task(name="jobs.jobs_reap_stale", ignore_result=True)
def jobs_reap_stale() -> dict:
    return _scheduled("jobs_reap_stale", services.jobs_reap_stale, lock_ttl=120)


def _purge() -> dict:
    return {**services.jobs_purge(), "idempotency_keys": idempotency_records_purge()}


@shared_task(name="jobs.jobs_purge", ignore_result=True)
def jobs_purge() -> dict:
    return _scheduled("jobs_purge", _purge, lock_ttl=3600)


@shared_task(name="jobs.ops_health_check", ignore_result=True)
def ops_health_check() -> dict:
    return _scheduled("ops_health_check", monitoring.ops_health_check, lock_ttl=240)
