"""Running a job's attempts in-process, each when it is due, as a worker would."""

from datetime import timedelta

import time_machine

from jobs.models import Job
from jobs.services import job_execute, job_submit


def diagnostic_submit(tenant, **payload) -> Job:
    return job_submit(tenant=tenant, type="diagnostic", payload={"steps": 0, **payload})


def run_due(job: Job) -> Job:
    """Travel to when the job is due and run its task body, as a worker would."""
    job.refresh_from_db()
    if job.next_retry_at:
        with time_machine.travel(job.next_retry_at + timedelta(milliseconds=10)):
            job_execute(job_id=str(job.pk))
    else:
        job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    return job
