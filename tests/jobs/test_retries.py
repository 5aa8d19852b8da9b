"""Attempts, backoff, the dead letter, permanent errors and credits, with the task body run in-process."""

import socket
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from celery.exceptions import Retry
from django.db import OperationalError, connection

from accounts.models import CreditEntry
from config.celery import app as celery_app
from jobs import services, tasks
from jobs.errors import PermanentError
from jobs.models import Job, JobEvent
from jobs.registry import JobType, job_type_register
from jobs.services import job_cancel, job_claim, job_execute, job_requeue, job_submit
from tests.jobs.attempts import diagnostic_submit, run_due
from tests.jobs.factories import JobFactory


@pytest.fixture
def costly_diagnostics(settings, tenant):
    settings.JOB_CREDIT_COSTS = {"diagnostic": 3}
    return tenant


def test_a_failing_attempt_is_retried_with_growing_backoff(tenant):
    job = diagnostic_submit(tenant, fail_attempts=2)
    delays = []
    for _ in range(2):
        job = run_due(job)
        assert job.status == Job.Status.PENDING
        # The delay counts from when the attempt failed: after it started, before its retry line.
        retried = job.events.filter(kind=JobEvent.Kind.RETRY).latest("created_at").created_at
        delays.append(
            (
                (job.next_retry_at - retried).total_seconds(),
                (job.next_retry_at - job.started_at).total_seconds(),
            )
        )
    job = run_due(job)
    assert job.status == Job.Status.COMPLETED
    assert job.result == {"steps": 0, "attempt": 3}
    (first_least, first_most), (second_least, second_most) = delays
    assert first_least <= 1.3 and first_most >= 0.7
    assert second_least <= 2.5 and second_most >= 1.5
    assert job.events.filter(kind=JobEvent.Kind.RETRY).count() == 2


def test_a_jobs_history_tells_its_attempts_and_why_they_failed(tenant, api_client):
    job = diagnostic_submit(tenant, fail_attempts=5)
    for _ in range(3):
        job = run_due(job)
    assert job.status == Job.Status.FAILED

    response = api_client.get(f"/api/v1/jobs/{job.pk}/events")
    assert response.status_code == 200
    events = [(e["kind"], e["attempt"], e["message"]) for e in response.json()["results"]]
    assert [event[:2] for event in events] == [
        ("started", 1),
        ("retry", 1),
        ("started", 2),
        ("retry", 2),
        ("started", 3),
        ("failed", 3),
    ]
    assert events[1][2].startswith("DIAGNOSTIC_FAILURE: Attempt 1 fails on request. — retry in ")
    assert events[5][2] == "DIAGNOSTIC_FAILURE: Attempt 3 fails on request."
    # Where each attempt ran stays with the operators (the admin shows it).
    assert {message for kind, _, message in events if kind == "started"} == {""}
    assert job.events.filter(kind=JobEvent.Kind.STARTED).first().message.startswith("On ")


def test_a_job_polled_between_attempts_shows_the_error_and_none_once_it_completes(
    tenant, api_client
):
    job = job_submit(
        tenant=tenant,
        type="diagnostic",
        payload={"steps": 2, "step_seconds": 0, "fail_attempts": 1},
    )
    job = run_due(job)
    waiting = api_client.get(f"/api/v1/jobs/{job.pk}").json()
    assert (waiting["status"], waiting["error"]["code"]) == ("pending", "DIAGNOSTIC_FAILURE")
    assert waiting["next_retry_at"] is not None
    job = run_due(job)
    done = api_client.get(f"/api/v1/jobs/{job.pk}").json()
    assert (done["status"], done["error"], done["result"]) == (
        "completed",
        None,
        {"steps": 2, "attempt": 2},
    )


def test_each_attempt_reports_its_progress_from_zero(tenant):
    job = job_submit(
        tenant=tenant,
        type="diagnostic",
        payload={"steps": 2, "step_seconds": 0, "fail_attempts": 1},
    )
    job = run_due(job)
    # The failed attempt's last report is kept (it got through both steps before failing).
    assert (job.status, job.progress) == (Job.Status.PENDING, 100)
    assert job.progress_message == "step 2 of 2"
    with time_machine.travel(job.next_retry_at + timedelta(milliseconds=10)):
        second = job_claim(job.pk)
    assert (second.attempts, second.progress, second.progress_message) == (2, 0, "")
    job.refresh_from_db()
    assert (job.status, job.progress, job.progress_message) == (Job.Status.PROCESSING, 0, "")


def test_the_last_failed_attempt_is_the_dead_letter_and_refunds_once(costly_diagnostics):
    tenant = costly_diagnostics
    job = diagnostic_submit(tenant, fail_attempts=99)
    tenant.refresh_from_db()
    assert tenant.credit_balance == 97
    for _ in range(3):
        job = run_due(job)
    assert job.status == Job.Status.FAILED
    assert job.error_code == "DIAGNOSTIC_FAILURE"
    assert job.attempts == 3
    assert Job.objects.dead_letter().filter(pk=job.pk).exists()
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100
    refunds = CreditEntry.objects.filter(job=job, kind=CreditEntry.Kind.REFUND)
    assert refunds.count() == 1
    job_execute(job_id=str(job.pk))  # a late duplicate message changes nothing
    assert refunds.count() == 1


def test_a_cancel_asked_while_a_failed_attempt_is_rescheduled_ends_the_job_canceled(
    costly_diagnostics, monkeypatch
):
    tenant = costly_diagnostics
    job = diagnostic_submit(tenant, fail_attempts=1)
    delay = services.retry_delay
    answered = []

    def delay_while_a_cancel_lands(job_type, attempt):
        # POST /jobs/{id}/cancel arrives between the failure and its retry being scheduled.
        answered.append(job_cancel(job=Job.objects.get(pk=job.pk)).status)
        return delay(job_type, attempt)

    monkeypatch.setattr(services, "retry_delay", delay_while_a_cancel_lands)
    job = run_due(job)
    assert answered == [Job.Status.PROCESSING]
    assert (job.status, job.next_retry_at, job.attempts) == (Job.Status.CANCELED, None, 1)
    job_execute(job_id=str(job.pk))  # its retry's wake-up, were one sent, runs nothing
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.CANCELED, 1)
    assert list(job.events.values_list("kind", flat=True)) == [
        JobEvent.Kind.STARTED,
        JobEvent.Kind.CANCEL_REQUESTED,
        JobEvent.Kind.CANCELED,
    ]
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100


def test_an_admin_requeue_runs_the_dead_letter_again_and_charges_again(costly_diagnostics):
    tenant = costly_diagnostics
    job = JobFactory(tenant=tenant, status=Job.Status.FAILED, credits_charged=3, attempts=3)
    job_requeue(job=job)
    job.refresh_from_db()
    assert (job.status, job.attempts, job.error_code) == (Job.Status.PENDING, 0, "")
    tenant.refresh_from_db()
    assert tenant.credit_balance == 97
    assert run_due(job).status == Job.Status.COMPLETED


def test_a_requeued_dead_letter_that_fails_again_is_refunded_again(costly_diagnostics):
    tenant = costly_diagnostics
    job = diagnostic_submit(tenant, fail_attempts=99)
    for _ in range(3):
        job = run_due(job)
    job_requeue(job=job)
    tenant.refresh_from_db()
    assert tenant.credit_balance == 97
    for _ in range(3):
        job = run_due(job)
    assert job.status == Job.Status.FAILED
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100
    ledger = CreditEntry.objects.filter(job=job).order_by("id")
    assert [(e.kind, e.amount, e.balance_after) for e in ledger] == [
        ("debit", -3, 97),
        ("refund", 3, 100),
        ("debit", -3, 97),
        ("refund", 3, 100),
    ]
    debits, refunds = ledger.filter(kind="debit"), ledger.filter(kind="refund")
    assert [r.refund_of_id for r in refunds] == [d.pk for d in debits]
    job_execute(job_id=str(job.pk))  # a late duplicate message changes nothing
    assert ledger.count() == 4


def _explode(ctx):
    raise PermanentError("BAD_INPUT", "This can never work.")


def test_a_permanent_error_fails_at_once(tenant):
    job_type_register(JobType(name="test_permanent", handler=_explode))
    job = job_submit(tenant=tenant, type="test_permanent", payload={})
    job = run_due(job)
    assert (job.status, job.attempts, job.error_code) == (Job.Status.FAILED, 1, "BAD_INPUT")


def test_a_per_type_retry_schedule_is_followed(tenant):
    job_type_register(
        JobType(
            name="test_scheduled",
            handler=_explode_retryably,
            retry_delays=(60, 300, 900),
            max_attempts=4,
        )
    )
    job = job_submit(tenant=tenant, type="test_scheduled", payload={})
    waits = []
    for _ in range(3):
        job = run_due(job)
        waits.append(round((job.next_retry_at - job.started_at).total_seconds()))
    assert waits == [60, 300, 900]
    assert run_due(job).status == Job.Status.FAILED


def _explode_retryably(ctx):
    from jobs.errors import RetryableError

    raise RetryableError("UPSTREAM_TIMEOUT", "The provider timed out.")


def test_an_unexpected_exception_is_a_retryable_internal_error(tenant):
    job_type_register(JobType(name="test_bug", handler=lambda ctx: 1 / 0))
    job = run_due(job_submit(tenant=tenant, type="test_bug", payload={}))
    assert (job.status, job.error_code) == (Job.Status.PENDING, "INTERNAL_ERROR")


def _query_a_missing_table(ctx):
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret_column FROM internal_billing_table")


def _read_a_missing_file(ctx):
    Path("/srv/offload/private/customer-42/render.tmp").read_bytes()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("handler", "code", "internals"),
    [
        (_query_a_missing_table, "INTERNAL_ERROR", "internal_billing_table"),
        (_read_a_missing_file, "STORAGE_ERROR", "/srv/offload/private"),
    ],
)
def test_an_unexpected_errors_text_goes_to_the_logs_not_to_the_client(
    tenant, api_client, caplog, handler, code, internals
):
    name = f"test_leaky_{code.lower()}"
    job_type_register(JobType(name=name, handler=handler, max_attempts=2))
    job = run_due(job_submit(tenant=tenant, type=name, payload={}))
    job = run_due(job)
    assert (job.status, job.error_code) == (Job.Status.FAILED, code)

    shown = api_client.get(f"/api/v1/jobs/{job.pk}").json()["error"]
    assert shown["code"] == code
    assert shown["message"].endswith("operators have the details.")
    history = api_client.get(f"/api/v1/jobs/{job.pk}/events").json()["results"]
    assert [event["kind"] for event in history] == ["started", "retry", "started", "failed"]
    assert not any(internals in event["message"] for event in history)
    assert internals not in str(shown)
    # Each attempt's exception, with its traceback (the dead letter's own line has none).
    logged = [r for r in caplog.records if r.exc_info and str(job.pk) in r.getMessage()]
    assert len(logged) == 2
    assert internals in caplog.text


def _fail_with_a_described_error(ctx):
    from jobs.errors import RetryableError

    raise RetryableError("UPSTREAM_TIMEOUT", "The provider timed out after 60 s.")


def test_a_described_errors_own_message_is_kept(tenant):
    job_type_register(JobType(name="test_described", handler=_fail_with_a_described_error))
    job = run_due(job_submit(tenant=tenant, type="test_described", payload={}))
    assert job.error_message == "The provider timed out after 60 s."


def test_a_job_not_yet_due_is_not_claimed(tenant):
    job = diagnostic_submit(tenant, fail_attempts=1)
    job = run_due(job)
    job_execute(job_id=str(job.pk))  # before next_retry_at
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.PENDING, 1)


def test_each_attempt_leaves_a_started_line_saying_where_it_ran(tenant):
    job = run_due(run_due(diagnostic_submit(tenant, fail_attempts=1)))
    assert job.status == Job.Status.COMPLETED
    started = job.events.filter(kind=JobEvent.Kind.STARTED).order_by("attempt")
    assert [event.attempt for event in started] == [1, 2]
    assert all(socket.gethostname() in event.message for event in started)


@pytest.mark.django_db(transaction=True)
def test_the_claims_asynchronous_commit_does_not_outlive_it(tenant):
    """The claim may commit without waiting for its WAL flush; the completion after it must not."""
    job = diagnostic_submit(tenant)
    with connection.cursor() as cursor:
        claimed = job_claim(str(job.pk), job.type)
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone()[0] == "on"
    assert claimed.status == Job.Status.PROCESSING


def test_a_jobs_updated_at_moves_with_each_change(tenant):
    job = diagnostic_submit(tenant, steps=1, step_seconds=0, fail_attempts=5)
    stamps = [Job.objects.get(pk=job.pk).updated_at]
    for _ in range(3):
        run_due(job)
        stamps.append(Job.objects.get(pk=job.pk).updated_at)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    requeued_at = job.finished_at + timedelta(minutes=5)
    with time_machine.travel(requeued_at):
        job_requeue(job=job)
    stamps.append(Job.objects.get(pk=job.pk).updated_at)
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    assert stamps[-1] >= requeued_at


@pytest.fixture
def queues_purged_after():
    yield
    celery_app.control.purge()


@pytest.mark.parametrize("delivery", range(len(tasks.CLAIM_RETRY_DELAYS) + 1))
def test_a_claim_that_finds_the_database_down_is_delivered_again_after_each_delay(
    monkeypatch, queues_purged_after, delivery
):
    def database_down(**kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(tasks.services, "job_execute", database_down)
    task = tasks.job_execute
    message = {"job_id": "00000000-0000-0000-0000-000000000000", "type_name": "diagnostic"}
    task.push_request(
        id="delivery", retries=delivery, called_directly=False, args=[], kwargs=message
    )
    try:
        with pytest.raises((Retry, OperationalError)) as raised:
            task.run(**message)
    finally:
        task.pop_request()
    if delivery < len(tasks.CLAIM_RETRY_DELAYS):
        # Published again, to be delivered after this delay (1, 5, 15, then 30 seconds).
        assert isinstance(raised.value, Retry)
        assert raised.value.when == tasks.CLAIM_RETRY_DELAYS[delivery]
    else:
        # After the last, the sweeper publishes the job again.
        assert isinstance(raised.value, OperationalError)
