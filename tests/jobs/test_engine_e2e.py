"""The engine end to end: real worker processes on the real broker and the test database."""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

import tests.jobs.job_types  # noqa: F401 - the test-only job types, known to this process too
from accounts.models import CreditEntry
from config.celery import app as celery_app
from core.scheduling import schedules_sync
from jobs.models import Job, JobEvent, TaskRun, WorkerSeen
from jobs.selectors import workers_seen
from jobs.services import job_cancel, job_submit, jobs_reap_stale, jobs_sweep
from jobs.tasks import job_execute
from tests.concurrency import sessions_where
from tests.jobs.factories import JobFactory
from tests.tcpproxy import TcpProxy
from tests.worker import ROOT, running_worker, wait_for, worker_env, worker_stop

pytestmark = pytest.mark.django_db(transaction=True)

# A worker started with this environment knows the job types of tests/jobs/job_types.py.
TEST_TYPES_ENV = {"DJANGO_SETTINGS_MODULE": "tests.jobs.worker_settings"}


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
    # Listed in the order the worker serves them (its -Q), as operators check it.
    assert WorkerSeen.objects.filter(queues="system,urgent,normal,batch").exists()
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
    assert jobs_reap_stale() == {"requeued": 1, "failed": 0, "canceled": 0, "left": 0}
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
    api_client, broker_unreachable, caplog
):
    started = time.monotonic()
    response = api_client.post(
        "/api/v1/jobs", {"type": "diagnostic", "payload": {"steps": 1}}, format="json"
    )
    assert response.status_code == 202
    assert time.monotonic() - started < 10
    # One line naming the job and the broker's error, no traceback.
    (logged,) = [record for record in caplog.records if "Could not publish" in record.message]
    assert logged.exc_info is None and "Connection refused" in logged.getMessage()
    job = Job.objects.get(pk=response.json()["id"])
    assert (job.status, job.dispatched_at) == (Job.Status.PENDING, None)
    broker_unreachable()
    with running_worker():
        assert jobs_sweep() == {"published": 1, "woken": 0}
        job = _finished(job)
    assert job.status == Job.Status.COMPLETED


def test_a_claim_that_finds_the_database_out_of_reach_is_delivered_again_shortly(tenant):
    database = connection.settings_dict
    proxy = TcpProxy(database["HOST"] or "127.0.0.1", int(database["PORT"] or 5432))
    proxied = f"postgres://{database['USER']}@127.0.0.1:{proxy.port}/{database['NAME']}"
    try:
        with running_worker(extra_env={"DATABASE_URL": proxied}) as worker:
            proxy.cut()
            job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 1})
            wait_for(
                lambda: "Retry in 5s" in worker.log_path.read_text(),
                message="a second claim that failed too",
            )
            assert Job.objects.get(pk=job.pk).status == Job.Status.PENDING
            proxy.restore()
            # No beat, no sweeper: only the message delivered again can run it.
            job = _finished(job, timeout=30)
    finally:
        proxy.close()
    assert (job.status, job.attempts) == (Job.Status.COMPLETED, 1)


def test_the_same_message_delivered_twice_runs_once(tenant):
    job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 2, "step_seconds": 0.2})
    copies = [
        job_execute.apply_async(
            kwargs={"job_id": str(job.pk), "type_name": "diagnostic"}, queue="normal"
        )
        for _ in range(2)
    ]
    with running_worker(concurrency=2) as worker:
        job = _finished(job)
        # Until the worker has handled every copy: the one that lost the claim may come last.
        wait_for(
            lambda: all(
                f"[{copy.id}] succeeded in " in worker.log_path.read_text() for copy in copies
            ),
            message="both copies of the message handled",
        )
    assert (job.status, job.attempts) == (Job.Status.COMPLETED, 1)
    assert _attempts_started(job) == 1


def _succeeded_lines(worker, jobs) -> list[tuple[str, str]]:
    """The job and workspace named by Celery's "succeeded" line of each task for these jobs, in
    the order they ran (a message another test left in the broker may run too)."""
    lines = []
    for text in worker.log_path.read_text().splitlines():
        if not text.startswith("{"):
            continue  # Celery's start-up banner
        line = json.loads(text)
        if " succeeded in " in line["message"] and line["job_id"] in {str(j.pk) for j in jobs}:
            lines.append((line["job_id"], line["tenant"]))
    return lines


def test_celerys_succeeded_line_names_the_jobs_workspace_and_no_later_tasks(tenant, other_tenant):
    json_logs = {"DJANGO_SETTINGS_MODULE": "tests.jobs.json_log_settings"}
    with running_worker(extra_env=json_logs) as worker:
        # One after the other, on the worker's one process.
        alices = _finished(job_submit(tenant=tenant, type="diagnostic", payload={"steps": 1}))
        bobs = _finished(job_submit(tenant=other_tenant, type="diagnostic", payload={"steps": 1}))
        # A late copy of bob's job's message: nothing to claim, no workspace to name.
        job_execute.apply_async(
            kwargs={"job_id": str(bobs.pk), "type_name": "diagnostic"}, queue="normal"
        )
        wait_for(
            lambda: len(_succeeded_lines(worker, [alices, bobs])) >= 3,
            message="three tasks succeeded",
        )
        lines = _succeeded_lines(worker, [alices, bobs])
    assert lines == [(str(alices.pk), "alice"), (str(bobs.pk), "bob"), (str(bobs.pk), "-")]


def test_a_worker_refuses_a_pickled_message(tenant):
    """Messages are JSON only: a pickle (which can run code as it is read) is refused unread."""
    pickled, sent_after = JobFactory(tenant=tenant), JobFactory(tenant=tenant)
    job_execute.apply_async(
        kwargs={"job_id": str(pickled.pk), "type_name": "diagnostic"},
        queue="normal",
        serializer="pickle",
    )
    job_execute.apply_async(
        kwargs={"job_id": str(sent_after.pk), "type_name": "diagnostic"}, queue="normal"
    )
    with running_worker() as worker:
        _finished(sent_after)
        wait_for(
            lambda: "untrusted content of type pickle" in worker.log_path.read_text(),
            message="the pickle refused",
        )
    pickled.refresh_from_db()
    assert (pickled.status, pickled.attempts) == (Job.Status.PENDING, 0)


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


def test_jobs_waiting_at_a_cap_start_in_order_as_soon_as_a_slot_frees(tenant):
    env = {"JOBS_MAX_CONCURRENCY": "diagnostic=1"}
    with running_worker(concurrency=3, extra_env=env):
        first = job_submit(
            tenant=tenant, type="diagnostic", payload={"steps": 3, "step_seconds": 0.5}
        )
        wait_for(
            lambda: Job.objects.get(pk=first.pk).status == Job.Status.PROCESSING,
            message="the first job running",
        )
        waiting = []
        for _ in range(3):
            waiting.append(job_submit(tenant=tenant, type="diagnostic", payload={"steps": 1}))
            time.sleep(0.1)
        jobs = [_finished(job, timeout=60) for job in [first, *waiting]]
    assert [job.status for job in jobs] == [Job.Status.COMPLETED] * 4
    assert [job.pk for job in sorted(jobs, key=lambda job: job.started_at)] == [
        job.pk for job in jobs
    ]
    # Each starts when the one before it ends, not at the sweeper's next run.
    for before, after in zip(jobs, jobs[1:], strict=False):
        assert (after.started_at - before.finished_at).total_seconds() < 5


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


def test_a_worker_told_to_stop_leaves_the_workers_seen_at_once(tenant, client):
    hostname = f"stopping@{socket.gethostname()}"
    long_ago = timezone.now() - timedelta(days=1)
    # The row an earlier run of the same worker left.
    WorkerSeen.objects.create(hostname=hostname, started_at=long_ago, last_seen_at=long_ago)
    job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 8, "step_seconds": 0.25})
    with running_worker(name="stopping") as worker:
        wait_for(
            lambda: Job.objects.get(pk=job.pk).status == Job.Status.PROCESSING, message="processing"
        )
        seen = wait_for(lambda: workers_seen().filter(hostname=hostname).first(), message="seen")
        # Its own start, not the first start of a worker of that name.
        assert seen.started_at > job.created_at
        assert "offload_workers_seen 1.0" in client.get("/metrics").content.decode()
        os.kill(worker.pid, signal.SIGTERM)
        assert worker.wait(30) == 0
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED
    # Gone from the dashboard, queue_stats, /readyz and /metrics as it stops, not 2 minutes later.
    assert not workers_seen().exists()
    assert "offload_workers_seen 0.0" in client.get("/metrics").content.decode()
    assert WorkerSeen.objects.get(hostname=hostname).stopped_at is not None


def test_a_pool_process_told_to_stop_hands_its_job_back(tenant):
    job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 40, "step_seconds": 0.25})
    with running_worker() as worker:
        wait_for(
            lambda: Job.objects.get(pk=job.pk).status == Job.Status.PROCESSING, message="processing"
        )
        worker_stop(worker, sig=signal.SIGTERM, timeout=30)
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.PENDING, 0)
    assert job.events.last().kind == JobEvent.Kind.REQUEUED
    assert "worker stopped" in job.events.last().message
    Job.objects.filter(pk=job.pk).update(
        payload={"steps": 1, "step_seconds": 0, "fail_attempts": 0}
    )
    with running_worker():
        job = _finished(job)
    assert (job.status, job.attempts) == (Job.Status.COMPLETED, 1)


def test_an_attempt_over_its_worker_s_time_limit_fails_as_a_retryable_timeout(tenant, settings):
    # Published by a process whose setting differs: the worker's own limit is the one that holds.
    settings.JOBS_TIME_LIMITS = {"diagnostic": 600}
    job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 10, "step_seconds": 0.5})
    Job.objects.filter(pk=job.pk).update(max_attempts=1)
    with running_worker(extra_env={"JOBS_TIME_LIMITS": "diagnostic=1"}):
        job = _finished(job)
    assert (job.status, job.error_code) == (Job.Status.FAILED, "TIMEOUT")
    assert job.error_message == "The attempt took longer than 1s."
    assert job.progress < 100


def test_a_time_limit_lowered_only_where_a_job_was_published_does_not_cut_it_short(
    tenant, settings
):
    settings.JOBS_TIME_LIMITS = {"diagnostic": 1}
    job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 4, "step_seconds": 0.5})
    with running_worker():
        job = _finished(job)
    assert (job.status, job.attempts) == (Job.Status.COMPLETED, 1)


def _cancel_asked_then_worker_stopped(tenant, settings, sig) -> Job:
    """A processing job asked to cancel, whose worker is stopped before the handler's next check."""
    settings.JOB_CREDIT_COSTS = {"diagnostic": 5}
    job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 3, "step_seconds": 10})
    with running_worker() as worker:
        wait_for(
            lambda: Job.objects.get(pk=job.pk).status == Job.Status.PROCESSING, message="processing"
        )
        job_cancel(job=job)
        if sig == signal.SIGKILL:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
        else:
            worker_stop(worker, sig=signal.SIGTERM, timeout=30)
    job.refresh_from_db()
    return job


def _assert_canceled_and_refunded_once(job, tenant):
    job.refresh_from_db()
    assert (job.status, job.error_code, job.attempts) == (Job.Status.CANCELED, "CANCELED", 1)
    kinds = list(job.events.values_list("kind", flat=True))
    assert kinds == [
        JobEvent.Kind.STARTED,
        JobEvent.Kind.CANCEL_REQUESTED,
        JobEvent.Kind.CANCELED,
    ]
    assert CreditEntry.objects.filter(job=job, kind=CreditEntry.Kind.REFUND).count() == 1
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100


def test_a_job_asked_to_cancel_whose_worker_dies_is_canceled_by_the_reaper(tenant, settings):
    job = _cancel_asked_then_worker_stopped(tenant, settings, signal.SIGKILL)
    assert (job.status, job.cancel_requested) == (Job.Status.PROCESSING, True)
    settings.JOBS_STALE_AFTER_SECONDS = 1
    time.sleep(1.5)
    assert jobs_reap_stale() == {"requeued": 0, "failed": 0, "canceled": 1, "left": 0}
    _assert_canceled_and_refunded_once(job, tenant)


def test_a_job_asked_to_cancel_whose_pool_process_is_stopped_ends_canceled(tenant, settings):
    job = _cancel_asked_then_worker_stopped(tenant, settings, signal.SIGTERM)
    _assert_canceled_and_refunded_once(job, tenant)


def _queries_sleeping() -> int:
    return sessions_where("state = 'active' AND query LIKE 'SELECT pg_sleep%%'")


def test_a_time_limit_that_lands_in_a_query_ends_the_attempt_at_once(tenant, settings):
    settings.JOB_CREDIT_COSTS = {"test_sleep_in_the_database": 4}
    job = job_submit(tenant=tenant, type="test_sleep_in_the_database", payload={"seconds": 60})
    with running_worker(extra_env=TEST_TYPES_ENV):
        # Two attempts of 2 s each and a retry after about 1 s; the query alone would take 60 s.
        job = _finished(job, timeout=20)
        # The query was canceled on the server, not left running (and holding its locks).
        wait_for(lambda: _queries_sleeping() == 0, timeout=5, message="no query left sleeping")
    assert (job.status, job.error_code, job.attempts) == (Job.Status.FAILED, "TIMEOUT", 2)
    assert list(job.events.values_list("kind", flat=True)) == [
        JobEvent.Kind.STARTED,
        JobEvent.Kind.RETRY,
        JobEvent.Kind.STARTED,
        JobEvent.Kind.FAILED,
    ]
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100


def test_a_time_limit_in_a_handlers_own_transaction_stops_its_query_on_the_server(tenant):
    job = job_submit(
        tenant=tenant,
        type="test_sleep_in_the_database",
        payload={"seconds": 60, "in_transaction": True},
    )
    env = {**TEST_TYPES_ENV, "DATABASE_CLIENT_CHECK_SECONDS": "1"}
    with running_worker(extra_env=env):
        job = _finished(job, timeout=20)
        # The server notices the dropped connection within a second and ends its query.
        wait_for(lambda: _queries_sleeping() == 0, timeout=5, message="no query left sleeping")
    assert (job.status, job.error_code) == (Job.Status.FAILED, "TIMEOUT")


def test_a_workspace_cap_of_one_holds_across_two_workers_while_another_workspace_runs(
    tenant, other_tenant
):
    seen = []
    done = threading.Event()

    def sample():
        try:
            while not done.is_set():
                running = Job.objects.filter(status=Job.Status.PROCESSING)
                seen.append(
                    (
                        running.filter(tenant=tenant).count(),
                        running.filter(tenant=other_tenant).count(),
                    )
                )
                time.sleep(0.05)
        finally:
            connection.close()

    env = {"JOBS_MAX_CONCURRENCY_PER_TENANT": "diagnostic=1"}
    with (
        running_worker(name="tenant1", extra_env=env),
        running_worker(name="tenant2", extra_env=env),
    ):
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            alices = [
                job_submit(
                    tenant=tenant, type="diagnostic", payload={"steps": 6, "step_seconds": 0.5}
                )
                for _ in range(2)
            ]
            bobs = job_submit(
                tenant=other_tenant, type="diagnostic", payload={"steps": 4, "step_seconds": 0.5}
            )
            for job in [*alices, bobs]:
                _finished(job, timeout=90)
        finally:
            done.set()
            sampler.join()
    assert max(alice for alice, _ in seen) == 1, seen
    assert (1, 1) in seen, "bob's job did not run while one of alice's did"
    assert all(job.status == Job.Status.COMPLETED and job.attempts == 1 for job in [*alices, bobs])
    waits = JobEvent.objects.filter(job__in=alices, kind=JobEvent.Kind.WAITING)
    assert waits.count() == 1
    assert (
        waits.get().message == "The workspace is at its cap of 1 diagnostic jobs running at once."
    )


def test_a_live_attempt_blocked_longer_than_the_stale_limit_is_not_run_twice(tenant, settings):
    settings.JOBS_STALE_AFTER_SECONDS = 2
    job = job_submit(tenant=tenant, type="test_block", payload={"seconds": 6})
    reaped = []
    with running_worker(extra_env={**TEST_TYPES_ENV, "JOBS_STALE_AFTER_SECONDS": "2"}):
        wait_for(
            lambda: Job.objects.get(pk=job.pk).status == Job.Status.PROCESSING, message="processing"
        )
        # The reaper runs all along; the handler never reports a thing in its six seconds.
        while Job.objects.get(pk=job.pk).status == Job.Status.PROCESSING:
            reaped.append((timezone.now(), jobs_reap_stale()))
            time.sleep(0.5)
        job = _finished(job)
    assert (job.status, job.attempts, job.result) == (Job.Status.COMPLETED, 1, {"slept": 6})
    assert _attempts_started(job) == 1
    assert all(counts["requeued"] == 0 for _, counts in reaped)
    # It looked several times once the attempt had run longer than the stale limit.
    stale_after = timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS)
    assert len([at for at, _ in reaped if at - job.started_at > stale_after]) >= 3, reaped


def test_a_live_attempt_asked_to_cancel_keeps_its_slot_until_it_stops(tenant, settings):
    settings.JOBS_STALE_AFTER_SECONDS = 2
    settings.JOBS_MAX_CONCURRENCY = {"test_block": 1}
    capped = {"JOBS_STALE_AFTER_SECONDS": "2", "JOBS_MAX_CONCURRENCY": "test_block=1"}
    with running_worker(concurrency=2, extra_env={**TEST_TYPES_ENV, **capped}):
        first = job_submit(tenant=tenant, type="test_block", payload={"seconds": 6})
        wait_for(lambda: Job.objects.get(pk=first.pk).status == Job.Status.PROCESSING)
        second = job_submit(tenant=tenant, type="test_block", payload={"seconds": 0})
        wait_for(lambda: Job.objects.get(pk=second.pk).waiting_since is not None)
        job_cancel(job=Job.objects.get(pk=first.pk))
        # The reaper runs all along; the first handler sleeps on, deaf to the cancel.
        while True:
            # Both read at once: the second may start the moment the first has stopped.
            statuses = dict(
                Job.objects.filter(pk__in=[first.pk, second.pk]).values_list("pk", "status")
            )
            if statuses[first.pk] != Job.Status.PROCESSING:
                break
            assert statuses[second.pk] == Job.Status.PENDING
            jobs_reap_stale()
            time.sleep(0.5)
        first, second = _finished(first), _finished(second)
    assert (first.status, first.attempts) == (Job.Status.CANCELED, 1)
    assert first.finished_at - first.started_at >= timedelta(seconds=6)
    assert not first.events.filter(kind=JobEvent.Kind.REAPED).exists()
    assert second.status == Job.Status.COMPLETED
    assert second.started_at >= first.finished_at


def test_the_sweeper_and_the_reaper_run_ahead_of_a_backlog_of_jobs(tenant):
    schedules_sync()
    backlog = [
        job_submit(tenant=tenant, type="diagnostic", payload={"steps": 1, "step_seconds": 1.5})
        for _ in range(6)
    ]
    lost = JobFactory(
        tenant=tenant,
        status=Job.Status.PROCESSING,
        attempts=1,
        started_at=timezone.now() - timedelta(hours=1),
        heartbeat_at=timezone.now() - timedelta(hours=1),
    )
    with running_worker(concurrency=1):
        wait_for(
            lambda: Job.objects.filter(pk__in=[job.pk for job in backlog], status="processing"),
            message="the worker busy with the backlog",
        )
        sent_at = timezone.now()
        for name in ("jobs-sweep", "jobs-reap-stale"):
            schedule = PeriodicTask.objects.get(name=name)
            # What beat sends every minute.
            celery_app.send_task(schedule.task, queue=schedule.queue)
        # Until both runs have ended, not only done their work: a run still going when the worker
        # is stopped is ended by the stop (and recorded as failed). A message another test left
        # in the broker may run too, before them.
        runs = TaskRun.objects.filter(started_at__gte=sent_at, finished_at__isnull=False)
        wait_for(
            lambda: {"jobs_sweep", "jobs_reap_stale"} <= set(runs.values_list("name", flat=True)),
            timeout=60,
            message="both runs ended",
        )
    assert lost.events.filter(kind=JobEvent.Kind.REAPED).exists()
    # Both ran as soon as the job in hand finished, not after the five jobs queued behind it: when
    # each started, at most three of the backlog had (the worker's clock on both sides).
    for name in ("jobs_sweep", "jobs_reap_stale"):
        run = runs.filter(name=name).latest("started_at")
        assert run.outcome == TaskRun.Outcome.OK, run
        started_before = Job.objects.filter(
            pk__in=[job.pk for job in backlog], started_at__lt=run.started_at
        )
        assert started_before.count() <= 3, name


HELD_BACK = """
import os, signal, time
import django
django.setup()
from core.metrics import JOBS_SUBMITTED, metric_inc
from core.threads import STOP_SIGNALS
from jobs.heartbeat import heartbeat_while_running

taken = []
signal.signal(signal.SIGTERM, lambda *args: taken.append(1))
metric_inc(JOBS_SUBMITTED, type="diagnostic")  # this process's metrics thread starts
with heartbeat_while_running(None, 0):  # and its heartbeat thread, as after its first job
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # as during a claim
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.5)
    print("held back:", not taken)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    time.sleep(0.1)
    print("taken after:", bool(taken))
"""


def test_a_stop_signal_waits_out_the_claim_in_a_process_running_its_own_threads():
    ran = subprocess.run(
        [sys.executable, "-c", HELD_BACK],
        cwd=ROOT,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ran.stdout.splitlines() == ["held back: True", "taken after: True"], ran.stderr


def _broker_connections_kill() -> int:
    """Close every client connection of the broker's Redis database, as a Redis restart or a
    network blip would: the worker's consumer loses its connection mid-job."""
    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    db = broker.connection_pool.connection_kwargs.get("db", 0)
    killed = 0
    for client in broker.client_list():
        if int(client["db"]) == db and client["cmd"] != "client|list":
            killed += broker.client_kill_filter(_id=client["id"])
    return killed


def test_a_broker_connection_lost_mid_job_keeps_its_time_limit_and_the_free_process_busy(tenant):
    """An attempt left running when its worker's broker connection drops loses its time limit,
    and its message, put back on the queue, holds the worker's only prefetch slot until it ends."""
    long = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 30, "step_seconds": 1})
    Job.objects.filter(pk=long.pk).update(max_attempts=1)
    # Long enough for the pool to replace the process it stopped, even on a busy machine.
    with running_worker(concurrency=2, extra_env={"JOBS_TIME_LIMITS": "diagnostic=12"}):
        wait_for(lambda: _attempts_started(long) == 1, timeout=30, message="the long job started")
        assert _broker_connections_kill() >= 1
        time.sleep(1)
        short = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 1})
        short = _finished(short, timeout=15)
        long = _finished(long, timeout=30)
    assert short.status == Job.Status.COMPLETED
    assert short.finished_at < long.finished_at
    # The attempt in hand was stopped and handed back (its message could no longer be
    # acknowledged), then run again under its time limit.
    assert (long.status, long.error_code) == (Job.Status.FAILED, "TIMEOUT")
    assert long.events.filter(kind=JobEvent.Kind.REQUEUED).exists()
