"""The engine end to end: real worker processes on the real broker and the test database."""

import os
import signal
import threading
import time

import pytest

from config.celery import app as celery_app
from jobs.models import Job, JobEvent, WorkerSeen
from jobs.services import job_submit, jobs_reap_stale, jobs_sweep
from jobs.tasks import job_execute
from tests.worker import running_worker, wait_for, worker_stop

pytestmark = pytest.mark.django_db(transaction=True)


def _finished(job, timeout=60):
    wait_for(
        lambda: Job.objects.get(pk=job.pk).is_finished,
        timeout=timeout,
        message=f"job {job.pk} finished",
    )
    job.refresh_from_db()
    return job


def _attempts_started(job) -> int:
    return JobEvent.objects.filter(job=job, kind=JobEvent.Kind.STARTED).count()


def test_a_submitted_job_completes_on_a_real_worker(api_client, client):
    with running_worker():
        response = api_client.post(
            "/api/v1/jobs",
            {"type": "diagnostic", "payload": {"steps": 3, "step_seconds": 0.1}},
            format="json",
        )
        assert response.status_code == 202
        job = _finished(Job.objects.get(pk=response.json()["id"]))
    assert job.status == Job.Status.COMPLETED, job.error_message
    assert job.result == {"steps": 3, "attempt": 1}
    assert job.progress == 100
    assert WorkerSeen.objects.filter(queues="batch,normal,urgent").exists()
    # The worker's counters and histograms are shared: the web process serves them.
    metrics = client.get("/metrics").content.decode()
    assert 'offload_jobs_completed_total{type="diagnostic"} 1.0' in metrics
    assert 'offload_job_duration_seconds_count{type="diagnostic"} 1.0' in metrics


def test_a_worker_killed_mid_job_loses_nothing(tenant, settings):
    job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 40, "step_seconds": 0.25})
    with running_worker() as worker:
        wait_for(lambda: Job.objects.get(pk=job.pk).progress >= 5, message="job under way")
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    job.refresh_from_db()
    assert job.status == Job.Status.PROCESSING
    settings.JOBS_STALE_AFTER_SECONDS = 1
    time.sleep(1.5)
    assert jobs_reap_stale() == {"requeued": 1, "failed": 0}
    Job.objects.filter(pk=job.pk).update(
        payload={"steps": 2, "step_seconds": 0.05, "fail_attempts": 0}
    )
    with running_worker():
        job = _finished(job)
    assert job.status == Job.Status.COMPLETED
    assert job.attempts == 2
    assert _attempts_started(job) == 2


@pytest.fixture
def broker_unreachable():
    """The web's broker connection points at a closed port until the test restores it."""
    original = celery_app.conf.broker_write_url

    def point_at(url):
        celery_app.conf.broker_write_url = url
        celery_app._pool = None
        celery_app.amqp._producer_pool = None

    point_at("redis://127.0.0.1:1/0")
    yield lambda: point_at(original)
    point_at(original)


def test_a_job_accepted_while_the_broker_is_down_completes_once_it_is_back(
    api_client, broker_unreachable
):
    started = time.monotonic()
    response = api_client.post(
        "/api/v1/jobs", {"type": "diagnostic", "payload": {"steps": 1}}, format="json"
    )
    assert response.status_code == 202
    assert time.monotonic() - started < 10
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.status, job.dispatched_at) == (Job.Status.PENDING, None)
    broker_unreachable()
    with running_worker():
        assert jobs_sweep() == {"published": 1}
        job = _finished(job)
    assert job.status == Job.Status.COMPLETED


def test_the_same_message_delivered_twice_runs_once(tenant):
    job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 2, "step_seconds": 0.2})
    for _ in range(2):
        job_execute.apply_async(
            kwargs={"job_id": str(job.pk), "type_name": "diagnostic"}, queue="normal"
        )
    with running_worker(concurrency=2):
        job = _finished(job)
        time.sleep(1)
    assert (job.status, job.attempts) == (Job.Status.COMPLETED, 1)
    assert _attempts_started(job) == 1


def test_canceling_a_running_job_stops_it_and_refunds(api_client, tenant, settings):
    settings.JOB_CREDIT_COSTS = {"diagnostic": 5}
    with running_worker(extra_env={"JOB_CREDIT_COSTS": "diagnostic=5"}):
        response = api_client.post(
            "/api/v1/jobs",
            {"type": "diagnostic", "payload": {"steps": 100, "step_seconds": 0.1}},
            format="json",
        )
        job = Job.objects.get(pk=response.json()["id"])
        wait_for(
            lambda: Job.objects.get(pk=job.pk).status == Job.Status.PROCESSING, message="processing"
        )
        cancel = api_client.post(f"/api/v1/jobs/{job.pk}/cancel")
        assert cancel.status_code == 202
        assert cancel.json()["cancel_requested"] is True
        job = _finished(job)
    assert job.status == Job.Status.CANCELED
    assert job.progress < 100
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100


def test_a_concurrency_cap_of_two_holds_across_three_workers(tenant):
    seen = []
    done = threading.Event()

    def sample():
        while not done.is_set():
            seen.append(Job.objects.filter(status=Job.Status.PROCESSING).count())
            time.sleep(0.05)

    env = {"JOBS_MAX_CONCURRENCY": "diagnostic=2"}
    with (
        running_worker(name="cap1", extra_env=env),
        running_worker(name="cap2", extra_env=env),
        running_worker(name="cap3", extra_env=env),
    ):
        jobs = [
            job_submit(tenant=tenant, type="diagnostic", payload={"steps": 4, "step_seconds": 0.4})
            for _ in range(6)
        ]
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            for job in jobs:
                _finished(job, timeout=90)
        finally:
            done.set()
            sampler.join()
    assert max(seen) == 2, seen
    assert all(Job.objects.get(pk=job.pk).status == Job.Status.COMPLETED for job in jobs)
    assert all(Job.objects.get(pk=job.pk).attempts == 1 for job in jobs)


def test_a_worker_told_to_stop_finishes_the_job_in_hand(tenant):
    job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 8, "step_seconds": 0.25})
    with running_worker() as worker:
        wait_for(
            lambda: Job.objects.get(pk=job.pk).status == Job.Status.PROCESSING, message="processing"
        )
        os.kill(worker.pid, signal.SIGTERM)
        assert worker.wait(30) == 0
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED


def test_a_pool_process_told_to_stop_hands_its_job_back(tenant):
    job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 40, "step_seconds": 0.25})
    with running_worker() as worker:
        wait_for(
            lambda: Job.objects.get(pk=job.pk).status == Job.Status.PROCESSING, message="processing"
        )
        worker_stop(worker, sig=signal.SIGTERM, timeout=30)
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.PENDING, 0)
    Job.objects.filter(pk=job.pk).update(
        payload={"steps": 1, "step_seconds": 0, "fail_attempts": 0}
    )
    with running_worker():
        job = _finished(job)
    assert (job.status, job.attempts) == (Job.Status.COMPLETED, 1)


def test_an_attempt_over_its_time_limit_fails_as_a_retryable_timeout(tenant, settings):
    settings.JOBS_TIME_LIMITS = {"diagnostic": 1}
    job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 10, "step_seconds": 0.5})
    Job.objects.filter(pk=job.pk).update(max_attempts=1)
    with running_worker():
        job = _finished(job)
    assert (job.status, job.error_code) == (Job.Status.FAILED, "TIMEOUT")
    assert job.progress < 100
