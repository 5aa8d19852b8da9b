from celery import shared_task

from core.idempotency import idempotency_records_purge
from jobs import monitoring, services
from jobs.runs import scheduled_run


@shared_task(name="jobs.job_execute", ignore_result=True)
def job_execute(*, job_id: str, type_name: str | None = None) -> None:
    services.job_execute(job_id=job_id, type_name=type_name)


@shared_task(name="jobs.jobs_sweep", ignore_result=True)
def jobs_sweep() -> dict:
    return scheduled_run("jobs_sweep", services.jobs_sweep, lock_ttl=120)


@shared_task(name="jobs.jobs_reap_stale", ignore_result=True)
def jobs_reap_stale() -> dict:
    return scheduled_run("jobs_reap_stale", services.jobs_reap_stale, lock_ttl=120)


def _purge() -> dict:
    return {**services.jobs_purge(), "idempotency_keys": idempotency_records_purge()}


@shared_task(name="jobs.jobs_purge", ignore_result=True)
def jobs_purge() -> dict:
    return scheduled_run("jobs_purge", _purge, lock_ttl=3600)


@shared_task(name="jobs.ops_health_check", ignore_result=True)
def ops_health_check() -> dict:
    return scheduled_run("ops_health_check", monitoring.ops_health_check, lock_ttl=240)
