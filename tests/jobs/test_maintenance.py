"""The stale reaper, the sweeper, the purge and cancel, as services."""

import base64
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import time_machine
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.utils import timezone
from kombu import Queue

from accounts.models import CreditEntry
from accounts.services import credits_debit
from config.celery import app as celery_app
from core.errors import Conflict
from jobs import tasks
from jobs.context import JobContext
from jobs.errors import JobLost
from jobs.models import Job, JobEvent, Priority, TaskRun
from jobs.registry import JobType, job_type_register
from jobs.services import (
    job_cancel,
    job_claim,
    job_execute,
    job_requeue,
    job_submit,
    jobs_purge,
    jobs_reap_stale,
    jobs_sweep,
)
from tests.concurrency import sessions_waiting_for_a_lock
from tests.jobs.factories import JobFactory
from tests.worker import wait_for


def test_a_processing_job_whose_heartbeat_stopped_goes_back_to_its_queue(
    tenant, published, settings
):
    job = JobFactory(tenant=tenant)
    job_claim(job.pk)
    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 1)
    ):
        assert jobs_reap_stale() == {"requeued": 1, "failed": 0, "canceled": 0, "left": 0}
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.PENDING, 1)
    assert job.events.filter(kind=JobEvent.Kind.REAPED).exists()


def test_a_stale_job_on_its_last_attempt_fails_as_worker_lost(tenant, published, settings):
    job = JobFactory(tenant=tenant, max_attempts=1, credits_charged=2)
    credits_debit(tenant=tenant, amount=2, reason="diagnostic job", job=job)
    job_claim(job.pk)
    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 1)
    ):
        assert jobs_reap_stale() == {"requeued": 0, "failed": 1, "canceled": 0, "left": 0}
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.FAILED, "WORKER_LOST")
    assert CreditEntry.objects.filter(job=job, kind="refund", amount=2).count() == 1
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100


def test_a_worker_back_after_its_job_was_failed_and_requeued_cannot_touch_the_new_attempt(
    tenant, published, settings
):
    job = JobFactory(tenant=tenant, max_attempts=1)
    frozen = JobContext(job_claim(job.pk))  # its worker stops answering (paused, partitioned)
    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 1)
    ):
        assert jobs_reap_stale()["failed"] == 1
    job_requeue(job=Job.objects.get(pk=job.pk))
    fresh = JobContext(job_claim(job.pk))
    assert fresh.attempt == frozen.attempt == 1

    with pytest.raises(JobLost):
        frozen.progress(90, "from the frozen worker")
    with pytest.raises(JobLost):
        frozen.complete({"from": "the frozen worker"})
    job.refresh_from_db()
    assert (job.status, job.progress, job.result) == (Job.Status.PROCESSING, 0, None)
    fresh.complete({"from": "the fresh worker"})
    job.refresh_from_db()
    assert (job.status, job.result) == (Job.Status.COMPLETED, {"from": "the fresh worker"})


def test_a_scheduled_reaper_run_takes_a_batch_and_records_how_many_are_left(
    tenant, published, settings, monkeypatch
):
    monkeypatch.setattr("jobs.services.REAP_BATCH", 2)
    long_ago = timezone.now() - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 1)
    for _ in range(3):
        JobFactory(tenant=tenant, status=Job.Status.PROCESSING, attempts=1, heartbeat_at=long_ago)
    tasks.jobs_reap_stale()
    run = TaskRun.objects.get(name="jobs_reap_stale")
    assert run.counts == {"requeued": 2, "failed": 0, "canceled": 0, "left": 1}
    assert Job.objects.stale().count() == 1


def test_a_fresh_heartbeat_is_left_alone(tenant, published):
    job = JobFactory(tenant=tenant)
    job_claim(job.pk)
    assert jobs_reap_stale() == {"requeued": 0, "failed": 0, "canceled": 0, "left": 0}


def _charged(tenant, **fields) -> Job:
    job = JobFactory(tenant=tenant, credits_charged=2, **fields)
    credits_debit(tenant=tenant, amount=2, reason="diagnostic job", job=job)
    return job


def _assert_canceled_and_refunded_once(job, tenant):
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.CANCELED, "CANCELED")
    assert CreditEntry.objects.filter(job=job, kind="refund", amount=2).count() == 1
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100
    assert list(job.events.values_list("kind", flat=True)) == [
        "started",
        "cancel_requested",
        "canceled",
    ]


@pytest.mark.parametrize("max_attempts", [3, 1], ids=["attempts left", "last attempt"])
def test_a_stale_job_asked_to_cancel_ends_canceled_instead_of_running_again(
    tenant, published, settings, max_attempts
):
    job = _charged(tenant, max_attempts=max_attempts)
    job_claim(job.pk)
    job_cancel(job=job)  # its worker died before its next check
    with time_machine.travel(
        timezone.now() + timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 1)
    ):
        assert jobs_reap_stale() == {"requeued": 0, "failed": 0, "canceled": 1, "left": 0}
        assert jobs_reap_stale() == {"requeued": 0, "failed": 0, "canceled": 0, "left": 0}
    assert published == []
    _assert_canceled_and_refunded_once(job, tenant)


def _in_own_connection(function):
    def run():
        try:
            return function()
        finally:
            connection.close()

    return run


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("cancel_requested", [False, True], ids=["last attempt", "cancel asked"])
def test_a_heartbeat_landing_while_the_reaper_looks_keeps_the_job_running(
    tenant, published, settings, cancel_requested
):
    """The reaper reads the stale jobs, then ends each with an UPDATE. A heartbeat committed in
    between (held back here by the worker's open transaction until the UPDATE waits for its row)
    shows the worker alive: whatever branch the reaper takes, the job stays with it."""
    job = JobFactory(tenant=tenant, max_attempts=1, cancel_requested=cancel_requested)
    job_claim(job.pk)
    long_ago = timezone.now() - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 1)
    Job.objects.filter(pk=job.pk).update(heartbeat_at=long_ago)
    worker = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        worker.set_autocommit(False)
        with worker.cursor() as cursor:
            cursor.execute(
                f"UPDATE {Job._meta.db_table} SET heartbeat_at = now() WHERE id = %s", [job.pk]
            )
        with ThreadPoolExecutor(1) as pool:
            reaping = pool.submit(_in_own_connection(jobs_reap_stale))
            wait_for(sessions_waiting_for_a_lock, timeout=10, message="the reaper's UPDATE")
            worker.commit()
            counts = reaping.result(timeout=10)
    finally:
        worker.close()
    assert counts == {"requeued": 0, "failed": 0, "canceled": 0, "left": 0}
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.PROCESSING, "")


def _cancel_then_stop(ctx):
    job_cancel(job=Job.objects.get(pk=ctx.job.pk))
    # What a pool process raises when its supervisor stops it (SIGTERM to the process group).
    raise SystemExit(1)


def test_a_job_asked_to_cancel_whose_pool_process_stops_ends_canceled(tenant, published):
    job_type_register(JobType(name="test_cancel_then_stop", handler=_cancel_then_stop))
    job = _charged(tenant, type="test_cancel_then_stop", payload={})
    with pytest.raises(SystemExit):
        job_execute(job_id=str(job.pk))
    assert published == []
    _assert_canceled_and_refunded_once(job, tenant)


def test_a_capped_job_that_ends_canceled_as_its_pool_process_stops_frees_its_slot(
    tenant, published, settings, django_capture_on_commit_callbacks
):
    job_type_register(JobType(name="test_cancel_then_stop", handler=_cancel_then_stop))
    settings.JOBS_MAX_CONCURRENCY = {"test_cancel_then_stop": 1}
    stopping = _charged(tenant, type="test_cancel_then_stop", payload={})
    waiting = _charged(tenant, type="test_cancel_then_stop", payload={})
    Job.objects.filter(pk=waiting.pk).update(waiting_since=timezone.now())
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(SystemExit):
        job_execute(job_id=str(stopping.pk))
    assert Job.objects.get(pk=stopping.pk).status == Job.Status.CANCELED
    assert published == [waiting.pk]


def test_the_sweeper_publishes_jobs_whose_wake_up_was_never_sent(tenant, published):
    never_sent = JobFactory(tenant=tenant, dispatched_at=None)
    just_sent = JobFactory(tenant=tenant, dispatched_at=timezone.now())
    not_due = JobFactory(
        tenant=tenant, dispatched_at=None, next_retry_at=timezone.now() + timedelta(hours=1)
    )
    assert jobs_sweep() == {"published": 1, "woken": 0}
    assert published == [never_sent.pk]
    assert jobs_sweep() == {"published": 0, "woken": 0}
    assert just_sent.pk not in published and not_due.pk not in published


@pytest.fixture
def drained_queues():
    """The job queues at the broker hold no message (earlier tests may have left some)."""
    for queue in Priority.values:
        _purge(queue)


def test_the_sweeper_republishes_a_wake_up_lost_long_ago(
    tenant, published, settings, drained_queues
):
    lost = JobFactory(
        tenant=tenant,
        dispatched_at=timezone.now() - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 5),
    )
    assert jobs_sweep() == {"published": 1, "woken": 0}
    assert published == [lost.pk]


@pytest.fixture
def normal_queue_behind():
    """A message waiting in the broker's `normal` queue, as while workers are behind."""
    with celery_app.producer_or_acquire() as producer:
        producer.publish(
            {"waiting": True}, routing_key="normal", exchange="", declare=[Queue("normal")]
        )
    yield
    _purge("normal")


def _purge(queue: str) -> None:
    with celery_app.connection_for_write() as connection:
        connection.default_channel.queue_purge(queue)


@pytest.mark.parametrize("broker", ["filesystem://localhost/", "redis://127.0.0.1/7"])
def test_a_worker_starting_on_the_filesystem_broker_sends_again_what_a_killed_one_held(
    tenant, published, settings, tmp_path, broker
):
    from jobs.signals import _resend_what_a_stopped_worker_held

    sent = timezone.now() - timedelta(seconds=5)
    # Taken off the disk by a worker killed a few seconds ago, never claimed.
    held = [
        JobFactory(tenant=tenant, dispatched_at=sent),
        JobFactory(tenant=tenant, dispatched_at=sent, priority=Priority.URGENT),
    ]
    # Still on disk: its worker will take it.
    queued = JobFactory(tenant=tenant, dispatched_at=sent)
    body = json.dumps([[], {"job_id": str(queued.pk), "type_name": "diagnostic"}, {}])
    message = {
        "body": base64.b64encode(body.encode()).decode(),
        "content-type": "application/json",
        "properties": {"body_encoding": "base64"},
    }
    (tmp_path / f"1_{uuid.uuid4()}.normal.msg").write_text(json.dumps(message))
    # Not a job's wake-up: read past, not a reason to send nothing.
    (tmp_path / f"2_{uuid.uuid4()}.normal.msg").write_text('{"body": "e30=", "properties": null}')
    assert jobs_sweep() == {"published": 0, "woken": 0}  # not yet lost for the sweeper

    settings.CELERY_BROKER_URL = broker
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"data_folder_in": str(tmp_path)}
    _resend_what_a_stopped_worker_held(sender=None)

    expected = sorted(job.pk for job in held) if broker.startswith("filesystem") else []
    assert sorted(published) == expected


def test_the_sweeper_leaves_a_queue_that_is_behind_alone_until_it_drains(
    tenant, published, settings, drained_queues, normal_queue_behind
):
    long_ago = timezone.now() - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 5)
    behind = JobFactory(tenant=tenant, dispatched_at=long_ago)
    other_queue = JobFactory(tenant=tenant, priority="urgent", dispatched_at=long_ago)
    never_sent = JobFactory(tenant=tenant, dispatched_at=None)
    assert jobs_sweep() == {"published": 2, "woken": 0}
    assert sorted(map(str, published)) == sorted([str(other_queue.pk), str(never_sent.pk)])
    _purge("normal")
    published.clear()
    assert jobs_sweep() == {"published": 1, "woken": 0}
    assert published == [behind.pk]


def test_old_task_runs_are_purged_but_each_tasks_last_run_stays(db, settings):
    from jobs.runs import task_runs_purge

    settings.JOBS_RETENTION_TASK_RUNS_DAYS = 30
    now = timezone.now()
    old, recent = now - timedelta(days=31), now - timedelta(days=1)
    TaskRun.objects.create(name="jobs_sweep", started_at=old)
    kept = [
        TaskRun.objects.create(name="jobs_sweep", started_at=recent),
        # Paused for months: its last run still says when it ran.
        TaskRun.objects.create(name="budget_alert_check", started_at=now - timedelta(days=90)),
    ]
    TaskRun.objects.create(name="budget_alert_check", started_at=now - timedelta(days=91))
    # Failing for longer than the retention: its last success still says when it last worked.
    kept.append(TaskRun.objects.create(name="ops_health_check", started_at=old, outcome="ok"))
    for days in (35, 1):
        TaskRun.objects.create(
            name="ops_health_check", started_at=now - timedelta(days=days), outcome="failed"
        )
    kept.append(TaskRun.objects.get(name="ops_health_check", started_at__gte=recent))
    # Its last run that ran (failed), then another beat's skip; stopped since.
    kept.append(TaskRun.objects.create(name="jobs_reap_stale", started_at=old, outcome="failed"))
    kept.append(
        TaskRun.objects.create(
            name="jobs_reap_stale", started_at=old + timedelta(milliseconds=4), outcome="skipped"
        )
    )

    assert task_runs_purge() == 3

    assert set(TaskRun.objects.all()) == set(kept)


def test_purge_keeps_recent_jobs_and_the_ledger(tenant, settings):
    now = timezone.now()
    old_done = JobFactory(
        tenant=tenant, status=Job.Status.COMPLETED, finished_at=now - timedelta(hours=25)
    )
    new_done = JobFactory(
        tenant=tenant, status=Job.Status.COMPLETED, finished_at=now - timedelta(hours=23)
    )
    old_failed = JobFactory(
        tenant=tenant, status=Job.Status.FAILED, finished_at=now - timedelta(days=8)
    )
    new_failed = JobFactory(
        tenant=tenant, status=Job.Status.CANCELED, finished_at=now - timedelta(days=6)
    )
    entry = CreditEntry.objects.create(
        tenant=tenant, kind="debit", amount=-1, balance_after=99, job=old_done
    )
    assert jobs_purge() == {"deleted": 2}
    assert set(Job.objects.values_list("pk", flat=True)) == {new_done.pk, new_failed.pk}
    entry.refresh_from_db()
    assert entry.job is None
    assert not Job.objects.filter(pk__in=[old_done.pk, old_failed.pk]).exists()


def test_cancel_a_pending_job_refunds_it(tenant, settings):
    settings.JOB_CREDIT_COSTS = {"diagnostic": 4}
    job = job_submit(tenant=tenant, type="diagnostic", payload={})
    job = job_cancel(job=job)
    assert job.status == Job.Status.CANCELED
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100
    with pytest.raises(Conflict):
        job_cancel(job=job)


def test_cancel_a_processing_job_asks_it_to_stop(tenant):
    job = JobFactory(tenant=tenant)
    job_claim(job.pk)
    job = job_cancel(job=job)
    assert (job.status, job.cancel_requested) == (Job.Status.PROCESSING, True)
