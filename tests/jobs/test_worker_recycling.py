"""Pool processes are replaced by the worker settings, and the jobs carry on in the new ones."""

import re

import pytest

from jobs.models import Job, JobEvent
from jobs.services import job_submit
from tests.worker import running_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def _run_two_jobs(tenant, extra_env: dict) -> list[str]:
    """The process each of two jobs, run one after the other, started in."""
    processes = []
    with running_worker(concurrency=1, extra_env=extra_env):
        for _ in range(2):
            job = job_submit(
                tenant=tenant, type="diagnostic", payload={"steps": 1, "step_seconds": 0}
            )
            wait_for(
                lambda job=job: Job.objects.get(pk=job.pk).status == Job.Status.COMPLETED,
                # A job handed to a process as it is replaced waits for Celery's pool upkeep
                # (every 5 s), longer on a loaded machine.
                timeout=90,
                message=f"job {job.pk} completed",
            )
            started = JobEvent.objects.get(job=job, kind=JobEvent.Kind.STARTED).message
            processes.append(re.search(r"process (\d+)", started).group(1))
    return processes


def test_a_pool_process_over_its_memory_limit_is_replaced_after_its_job(tenant):
    first, second = _run_two_jobs(tenant, {"WORKER_MAX_MEMORY_PER_CHILD": "1"})
    assert first != second


def test_a_pool_process_within_its_limits_runs_the_next_job_too(tenant):
    first, second = _run_two_jobs(tenant, {})
    assert first == second
