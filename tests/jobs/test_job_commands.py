"""The operators' job commands: submit (and follow), cancel, retry, requeue, and granting credits."""

import getpass
import json
import socket
import sys
import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from accounts.models import CreditEntry
from accounts.services import credits_debit, operator_at_command_line
from jobs.management.commands import clean_queue
from jobs.models import Job, JobEvent
from jobs.services import job_submit
from tests.jobs.factories import JobFactory
from tests.worker import running_worker


def _run(*args) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


@pytest.fixture
def costly(settings, tenant):
    settings.JOB_CREDIT_COSTS = {"diagnostic": 3}
    return tenant


def test_cancel_job_cancels_refunds_and_reports_what_it_could_not_do(costly):
    pending = job_submit(tenant=costly, type="diagnostic", payload={"steps": 1})
    done = JobFactory(tenant=costly, status=Job.Status.COMPLETED)
    err = StringIO()
    with pytest.raises(CommandError, match="3 of 4 jobs were not changed"):
        call_command(
            "cancel_job", str(pending.pk), str(done.pk), "not-an-id", str(done.pk), stderr=err
        )
    pending.refresh_from_db()
    assert pending.status == Job.Status.CANCELED
    costly.refresh_from_db()
    assert costly.credit_balance == 100
    assert CreditEntry.objects.filter(job=pending, kind=CreditEntry.Kind.REFUND).count() == 1
    canceled = pending.events.get(kind=JobEvent.Kind.CANCELED)
    assert (canceled.message, canceled.actor) == (
        "CANCELED: Canceled by an operator.",
        f"manage.py ({getpass.getuser()}@{socket.gethostname()})",
    )
    assert f"{done.pk}: The job is completed" in err.getvalue()
    assert "not-an-id is not a job id: give it whole, as list_jobs prints it." in err.getvalue()


def test_a_job_named_by_the_start_of_its_id_is_refused_saying_to_give_it_whole(tenant):
    job = JobFactory(tenant=tenant, status=Job.Status.FAILED)
    start = str(job.pk)[:8]
    with pytest.raises(
        CommandError, match=f"^{start} is not a job id: give it whole, as list_jobs"
    ):
        call_command("show_job", start, stdout=StringIO())
    err = StringIO()
    with pytest.raises(CommandError, match="1 of 1 jobs were not changed"):
        call_command("requeue_job", start, stderr=err)
    assert err.getvalue() == f"{start} is not a job id: give it whole, as list_jobs prints it.\n"
    # Hyphenated or not, in any case, as the API takes it.
    assert _run("show_job", job.pk.hex.upper())[0].startswith(f"Job {job.pk} ")


def test_requeue_job_puts_a_dead_letter_back_and_retry_job_submits_a_new_one(tenant):
    dead = JobFactory(tenant=tenant, status=Job.Status.FAILED, attempts=3, error_code="BOOM")
    other = JobFactory(tenant=tenant, status=Job.Status.CANCELED)
    out, _ = _run("requeue_job", str(dead.pk))
    assert out == f"{dead.pk}: requeued in the normal queue.\nAll 1 done.\n"
    dead.refresh_from_db()
    assert (dead.status, dead.attempts, dead.error_code) == (Job.Status.PENDING, 0, "")

    out, _ = _run("retry_job", str(other.pk))
    retried = Job.objects.get(retry_of=other)
    assert out.splitlines()[0] == f"{other.pk}: retried as job {retried.pk}."
    assert (retried.status, retried.payload) == (Job.Status.PENDING, other.payload)
    with pytest.raises(CommandError):
        call_command("retry_job", str(uuid.uuid4()), stdout=StringIO(), stderr=StringIO())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nobody", "diagnostic"], "No active workspace 'nobody'"),
        (["acme", "teleport"], "Unknown job type 'teleport'"),
        # The product submits these itself, as the API says.
        (["acme", "invoice_pdf", "--payload", '{"invoice_id": 1}'], "Unknown job type"),
        (["acme", "diagnostic", "--payload", '{"steps": -1}'], '"steps"'),
        (["acme", "diagnostic", "--payload", "[1]"], "must be a JSON object"),
        (["acme", "diagnostic", "--payload", "{steps"], "is not JSON"),
        (["acme", "diagnostic", "--wait", "-5"], "--wait -5 is not a number of seconds from 1 to"),
        (
            ["acme", "diagnostic", "--wait", "nan"],
            "--wait nan is not a number of seconds from 1 to",
        ),
    ],
)
def test_submit_job_refuses_bad_input_and_creates_nothing(tenant, args, message):
    tenant.slug = "acme"
    tenant.save()
    with pytest.raises(CommandError, match=message) as refused:
        call_command("submit_job", *args, stdout=StringIO())
    assert not Job.objects.exists()
    # The job types are listed when the type is what was wrong, and only then.
    assert ("Job types: " in str(refused.value)) == (args[1] in ("teleport", "invoice_pdf"))
    assert "invoice_pdf" not in str(refused.value).partition("Job types: ")[2]


def test_submit_job_without_a_worker_gives_up_waiting_and_says_why(tenant):
    with pytest.raises(CommandError, match="still pending after 1 s: is a worker running"):
        call_command("submit_job", tenant.slug, "diagnostic", "--wait", "1", stdout=StringIO())
    assert Job.objects.get().status == Job.Status.PENDING


@pytest.mark.django_db(transaction=True)
def test_submit_job_that_gives_up_waiting_says_where_the_job_stands(tenant):
    from tests.worker import wait_for

    long = json.dumps({"steps": 60, "step_seconds": 0.5})
    cap = {"JOBS_MAX_CONCURRENCY_PER_TENANT": "diagnostic=1"}
    with running_worker(concurrency=2, extra_env=cap):
        # Each wait is long enough for a worker on a loaded machine to take the job (seconds).
        with pytest.raises(CommandError) as running:
            _run("submit_job", tenant.slug, "diagnostic", "--payload", long, "--wait", "5")
        first = Job.objects.get()
        assert str(running.value) == (
            f"Job {first.pk} is still processing after 5 s; it goes on (`manage.py show_job "
            f"{first.pk}` follows it, `manage.py cancel_job {first.pk}` stops it)."
        )
        # The worker's other process is free, but the workspace may run one diagnostic at once.
        with pytest.raises(CommandError) as held:
            _run("submit_job", tenant.slug, "diagnostic", "--payload", long, "--wait", "4.5")
        second = Job.objects.exclude(pk=first.pk).get()
        assert str(held.value).startswith(
            f"Job {second.pk} is still waiting for a free slot after 4.5 s: its type or workspace "
            "is at its concurrency cap"
        )
        for job in (second, first):
            _run("cancel_job", str(job.pk))
        wait_for(
            lambda: not Job.objects.exclude(status=Job.Status.CANCELED).exists(),
            message="both jobs canceled",
        )


@pytest.mark.django_db(transaction=True)
def test_submit_job_follows_a_diagnostic_through_a_real_worker(tenant):
    payload = json.dumps({"steps": 3, "step_seconds": 0.5, "fail_attempts": 1})
    with running_worker():
        out, _ = _run("submit_job", tenant.slug, "diagnostic", "--payload", payload, "--wait", "60")
    job = Job.objects.get()
    lines = out.splitlines()
    assert lines[0] == f"Submitted diagnostic job {job.pk} to the normal queue."
    assert any(line.startswith("  processing, attempt 1/3, 33%: step 1 of 3") for line in lines)
    assert any(
        line.startswith("  pending, attempt 1/3, 100%: step 3 of 3 (last error DIAGNOSTIC_FAILURE")
        for line in lines
    ), out
    assert lines[-2] == "  completed, attempt 2/3, 100%: step 3 of 3"
    assert lines[-1] == 'Completed: {"steps": 3, "attempt": 2}'

    shown, _ = _run("show_job", str(job.pk))
    assert f"Job {job.pk} · diagnostic · workspace {tenant.slug} · queue normal" in shown
    assert "Status: completed, attempt 2 of 3" in shown
    history = shown.split("History:\n")[1].splitlines()
    assert [line.split()[3:6] for line in history] == [
        ["attempt", "1", "started"],
        ["attempt", "1", "retry"],
        ["attempt", "2", "started"],
    ]
    assert "On " in history[0] and ", process " in history[0]
    assert "DIAGNOSTIC_FAILURE" in history[1]

    document = json.loads(_run("show_job", str(job.pk), "--json")[0])
    assert (document["status"], document["workspace"], document["result"]) == (
        "completed",
        tenant.slug,
        {"steps": 3, "attempt": 2},
    )
    assert [event["kind"] for event in document["events"]] == ["started", "retry", "started"]
    # Times as the API writes them.
    assert datetime.fromisoformat(document["finished_at"]) == job.finished_at
    assert document["created_at"] == _api_time(job.created_at)
    with pytest.raises(CommandError, match="no such job"):
        call_command("show_job", str(uuid.uuid4()), stdout=StringIO())


def test_grant_credits_adds_to_the_balance_through_the_ledger(tenant):
    out, _ = _run("grant_credits", tenant.slug, "250", "--reason", "Support ticket 42")
    tenant.refresh_from_db()
    assert tenant.credit_balance == 350
    assert out == f"Granted 250 credits to {tenant.slug}; the balance is 350.\n"
    entry = CreditEntry.objects.get(tenant=tenant)
    assert (entry.kind, entry.amount, entry.reason) == ("grant", 250, "Support ticket 42")
    with pytest.raises(CommandError, match="positive"):
        call_command("grant_credits", tenant.slug, "-5", stdout=StringIO())


def test_queue_stats_prints_counts_attention_and_answers_json(tenant, other_tenant):
    from datetime import timedelta

    from django.utils import timezone

    JobFactory(tenant=tenant)
    JobFactory(tenant=tenant, status=Job.Status.COMPLETED)
    JobFactory(
        tenant=tenant,
        attempts=1,
        next_retry_at=timezone.now() + timedelta(minutes=1),
        error_code="BOOM",
    )
    JobFactory(tenant=other_tenant, status=Job.Status.FAILED)

    out, _ = _run("queue_stats", "--tenant", tenant.slug)
    lines = out.splitlines()
    assert lines[1].split() == ["normal", "diagnostic", "2", "0", "1", "0", "0"]
    assert "retrying after an error=1" in out
    assert "Due pending, all workspaces: urgent=0, normal=1, batch=0" in out
    assert lines[-1] == "1 due pending jobs in all workspaces, 0 workers seen."

    stats = json.loads(_run("queue_stats", "--json")[0])
    (row,) = stats["counts"]
    assert (row["pending"], row["completed"], row["failed"]) == (2, 1, 1)
    assert stats["due_pending"]["normal"] == 1
    assert stats["attention"] == {"stale": 0, "waiting": 0, "retrying": 1, "capacity": 0}
    with pytest.raises(CommandError, match="No workspace 'nobody'"):
        call_command("queue_stats", "--tenant", "nobody", stdout=StringIO())


def test_clean_queue_counts_then_deletes_or_cancels_only_what_it_is_told(costly, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    old = timezone.now() - timedelta(hours=50)
    stale_failures = [
        JobFactory(tenant=costly, status=Job.Status.FAILED, created_at=old) for _ in range(2)
    ]
    JobEvent.objects.create(job=stale_failures[0], kind=JobEvent.Kind.FAILED, message="x")
    recent_failure = JobFactory(tenant=costly, status=Job.Status.FAILED)
    batch_failure = JobFactory(
        tenant=costly, status=Job.Status.FAILED, created_at=old, priority="batch"
    )
    out, _ = _run(
        "clean_queue", "--no-input", "--status", "failed", "--older-than-hours", "48", "--dry-run"
    )
    assert out == "Would delete 3 failed jobs of every workspace.\n"
    out, _ = _run("clean_queue", "--status", "pending", "--tenant", costly.slug, "--dry-run")
    assert out == f"Would cancel 0 pending jobs of {costly.slug}.\n"
    assert Job.objects.count() == 4

    asked = []
    monkeypatch.setattr("builtins.input", lambda question: asked.append(question) or "no")
    with pytest.raises(CommandError, match="Nothing cleaned."):
        _run("clean_queue", "--status", "failed", "--older-than-hours", "48", "--queue", "normal")
    assert Job.objects.count() == 4
    monkeypatch.setattr("builtins.input", lambda question: asked.append(question) or "yes")
    out, _ = _run(
        "clean_queue", "--status", "failed", "--older-than-hours", "48", "--queue", "normal"
    )
    assert asked == ["Delete 2 failed jobs of every workspace? Type 'yes' to go on: "] * 2
    assert out == "Deleted 2 failed jobs with their history.\n"
    out, _ = _run(
        "clean_queue", "--status", "failed", "--older-than-hours", "48", "--queue", "normal"
    )
    assert (out, len(asked)) == ("Deleted 0 failed jobs with their history.\n", 2)
    assert set(Job.objects.values_list("pk", flat=True)) == {recent_failure.pk, batch_failure.pk}

    waiting = job_submit(tenant=costly, type="diagnostic", payload={"steps": 0})
    out, _ = _run("clean_queue", "--no-input", "--status", "pending", "--type", "diagnostic")
    assert out == "Canceled 1 pending jobs.\n"
    waiting.refresh_from_db()
    assert waiting.status == Job.Status.CANCELED
    costly.refresh_from_db()
    assert costly.credit_balance == 100
    for hours in ["-1", "nan", "inf", "1e12", "soon"]:
        with pytest.raises(CommandError, match="--older-than-hours"):
            call_command(
                "clean_queue", "--no-input", "--status", "failed", "--older-than-hours", hours
            )
    with pytest.raises(CommandError, match="choose from 'pending', 'completed', 'failed'"):
        call_command("clean_queue", "--no-input", "--status", "processing")


def test_purge_jobs_and_requeue_stale_jobs_do_what_the_schedules_do(tenant, settings):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    JobFactory(
        tenant=tenant,
        status=Job.Status.COMPLETED,
        finished_at=now - timedelta(hours=settings.JOBS_RETENTION_COMPLETED_HOURS + 1),
    )
    kept = JobFactory(tenant=tenant, status=Job.Status.COMPLETED, finished_at=now)
    out, _ = _run("purge_jobs")
    assert out.startswith("Purged 1 jobs, 0 expired idempotency keys, 0 old task runs, ")
    assert list(Job.objects.values_list("pk", flat=True)) == [kept.pk]

    lost = JobFactory(
        tenant=tenant,
        status=Job.Status.PROCESSING,
        attempts=1,
        heartbeat_at=now - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 1),
    )
    out, _ = _run("requeue_stale_jobs")
    assert out == "Requeued 1 stale jobs, failed 0, canceled 0.\n"
    lost.refresh_from_db()
    assert lost.status == Job.Status.PENDING


def test_purge_jobs_says_how_far_it_is_through_a_large_purge(tenant, settings):
    expired = JobFactory(
        tenant=tenant,
        status=Job.Status.FAILED,
        finished_at=timezone.now() - timedelta(days=settings.JOBS_RETENTION_FAILED_DAYS + 1),
    )
    _copies(expired, 10_000)
    kept = JobFactory(tenant=tenant, status=Job.Status.FAILED, finished_at=timezone.now())

    out, _ = _run("purge_jobs")

    lines = out.splitlines()
    assert lines[0] == "  deleted 10000 of 10001 expired jobs…"
    assert lines[-1].startswith("Purged 10001 jobs, ")
    assert list(Job.objects.values_list("pk", flat=True)) == [kept.pk]


def test_retry_job_may_retry_a_system_job_type_the_api_refuses(tenant):
    failed = JobFactory(
        tenant=tenant, type="invoice_pdf", payload={"invoice_id": 1}, status=Job.Status.FAILED
    )
    _run("retry_job", str(failed.pk))
    retried = Job.objects.get(retry_of=failed)
    assert (retried.type, retried.status) == ("invoice_pdf", Job.Status.PENDING)


def _copies(job: Job, count: int) -> None:
    """`count` more jobs like `job`, in one statement: the ORM is far slower at this size."""
    columns = ", ".join(f.column for f in Job._meta.concrete_fields if not f.primary_key)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO jobs_job (id, {columns}) SELECT gen_random_uuid(), {columns} "
            "FROM jobs_job, generate_series(1, %s) WHERE id = %s",
            [count, job.pk],
        )


def test_clean_queue_deletes_more_jobs_than_a_statement_may_name_a_batch_at_a_time(tenant):
    # Past 65,535 jobs, one delete() named them all in one statement, which PostgreSQL refuses.
    finished = JobFactory(tenant=tenant, status=Job.Status.COMPLETED)
    JobEvent.objects.create(job=finished, kind=JobEvent.Kind.STARTED)
    charge = credits_debit(tenant=tenant, amount=5, reason="diagnostic job", job=finished)
    _copies(finished, 65_535)
    waiting = JobFactory(tenant=tenant)

    out, _ = _run("clean_queue", "--no-input", "--status", "completed")

    lines = out.splitlines()
    assert lines[0] == "  deleted 10000 of 65536 completed jobs…"
    assert lines[-1] == "Deleted 65536 completed jobs with their history."
    assert list(Job.objects.values_list("pk", flat=True)) == [waiting.pk]
    assert not JobEvent.objects.exists()
    assert CreditEntry.objects.get(pk=charge.pk).job is None


def test_clean_queue_cancels_one_workspaces_backlog(tenant, other_tenant):
    for _ in range(2):
        JobFactory(tenant=tenant)
    bobs = JobFactory(tenant=other_tenant)

    out, _ = _run("clean_queue", "--no-input", "--status", "pending", "--tenant", "alice")

    assert out == "Canceled 2 pending jobs.\n"
    assert {job.status for job in Job.objects.filter(tenant=tenant)} == {Job.Status.CANCELED}
    bobs.refresh_from_db()
    assert bobs.status == Job.Status.PENDING
    for command in [["clean_queue", "--status", "pending"], ["queue_stats"]]:
        for slug in ["nobody", ""]:  # an empty slug (an unset variable) is not every workspace
            with pytest.raises(CommandError, match=f"No workspace '{slug}'"):
                call_command(*command, "--tenant", slug)
    assert Job.objects.filter(status=Job.Status.PENDING).get() == bobs


def test_clean_queue_goes_on_past_jobs_workers_took_or_finished_meanwhile(tenant, monkeypatch):
    now = timezone.now()
    # Newest first, as the command takes them.
    first, claimed, finished = (
        JobFactory(tenant=tenant, created_at=now - timedelta(minutes=age)) for age in range(3)
    )
    cancel = clean_queue.job_cancel

    def cancel_while_workers_go_on(*, job, **kwargs):
        if job.pk == first.pk:
            # While the command works through its list, workers take one job and finish another.
            Job.objects.filter(pk=claimed.pk).update(status=Job.Status.PROCESSING, attempts=1)
            Job.objects.filter(pk=finished.pk).update(status=Job.Status.COMPLETED)
        return cancel(job=job, **kwargs)

    monkeypatch.setattr(clean_queue, "job_cancel", cancel_while_workers_go_on)
    out, _ = _run("clean_queue", "--no-input", "--status", "pending")

    assert out == (
        "Canceled 1 pending jobs. 1 started meanwhile: asked to stop at their next check. "
        "Skipped 1 that finished meanwhile.\n"
    )
    statuses = dict(Job.objects.values_list("pk", "status"))
    assert statuses == {
        first.pk: Job.Status.CANCELED,
        claimed.pk: Job.Status.PROCESSING,
        finished.pk: Job.Status.COMPLETED,
    }
    assert Job.objects.get(pk=claimed.pk).cancel_requested
    canceled = first.events.get(kind=JobEvent.Kind.CANCELED)
    assert (canceled.message, canceled.actor) == (
        "CANCELED: Canceled by an operator.",
        f"manage.py ({getpass.getuser()}@{socket.gethostname()})",
    )


def test_requeue_stale_jobs_says_when_the_oldest_heartbeat_makes_a_processing_job_stale(
    tenant, settings
):
    settings.JOBS_STALE_AFTER_SECONDS = 300
    now = datetime(2026, 12, 7, 22, 40, 30, tzinfo=UTC)
    # Its worker died a minute ago: too recent for the reaper to tell.
    JobFactory(
        tenant=tenant,
        status=Job.Status.PROCESSING,
        attempts=1,
        heartbeat_at=now - timedelta(seconds=60),
    )
    JobFactory(tenant=tenant, status=Job.Status.PROCESSING, attempts=1, heartbeat_at=now)

    with time_machine.travel(now, tick=False):
        out, _ = _run("requeue_stale_jobs")

    assert out == (
        "Requeued 0 stale jobs, failed 0, canceled 0. No processing job is stale yet: the oldest "
        "heartbeat is 60 s old, and a job is taken once its heartbeat is 300 s old "
        "(JOBS_STALE_AFTER_SECONDS), at 2026-12-07 22:44:30 UTC for that one.\n"
    )
    assert set(Job.objects.values_list("status", flat=True)) == {Job.Status.PROCESSING}


def test_requeue_stale_jobs_takes_every_stale_job_in_rounds(tenant, settings, monkeypatch):
    monkeypatch.setattr("jobs.services.REAP_BATCH", 2)
    long_ago = timezone.now() - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 1)
    for _ in range(5):
        JobFactory(tenant=tenant, status=Job.Status.PROCESSING, attempts=1, heartbeat_at=long_ago)

    out, _ = _run("requeue_stale_jobs")

    assert out == (
        "  2 stale jobs handled, 3 left…\n"
        "  4 stale jobs handled, 1 left…\n"
        "Requeued 5 stale jobs, failed 0, canceled 0.\n"
    )
    assert set(Job.objects.values_list("status", flat=True)) == {Job.Status.PENDING}


def test_show_job_names_who_asked_for_a_cancel_which_the_workspace_does_not_see(tenant, api_client):
    job = JobFactory(tenant=tenant)
    _run("cancel_job", str(job.pk))
    operator = str(operator_at_command_line())

    shown, _ = _run("show_job", str(job.pk))
    assert f"Canceled by an operator. (asked by {operator})" in shown
    document = json.loads(_run("show_job", str(job.pk), "--json")[0])
    assert document["events"][-1]["actor"] == operator
    events = api_client.get(f"/api/v1/jobs/{job.pk}/events").json()["results"]
    assert operator not in json.dumps(events)


def _history_of(job: Job, count: int) -> None:
    start = timezone.now() - timedelta(hours=1)
    JobEvent.objects.bulk_create(
        JobEvent(
            job=job,
            attempt=1,
            kind=JobEvent.Kind.WAITING,
            message=f"wait {number}",
            created_at=start + timedelta(seconds=number),
        )
        for number in range(count)
    )


def test_show_job_prints_the_last_events_and_says_how_many_it_left_out(tenant):
    job = JobFactory(tenant=tenant)
    _history_of(job, 60)

    shown, _ = _run("show_job", str(job.pk))
    history = shown.split(
        "History, its last 50 events (10 earlier ones left out: --events all shows every one):\n"
    )[1].splitlines()
    assert [line.split()[-1] for line in history] == [str(n) for n in range(10, 60)]

    shown, _ = _run("show_job", str(job.pk), "--events", "3")
    assert shown.endswith(
        "History, its last 3 events (57 earlier ones left out: --events all shows every one):\n"
        f"{_event_line(job, 57)}\n{_event_line(job, 58)}\n{_event_line(job, 59)}\n"
    )

    document = json.loads(_run("show_job", str(job.pk), "--json")[0])
    assert document["events_left_out"] == 10
    assert [event["message"] for event in document["events"]] == [
        f"wait {n}" for n in range(10, 60)
    ]


def test_show_job_streams_its_whole_history_when_asked(tenant, monkeypatch):
    from jobs.management.commands import show_job

    monkeypatch.setattr(show_job, "EVENTS_CHUNK", 7)
    job = JobFactory(tenant=tenant)
    _history_of(job, 60)

    shown, _ = _run("show_job", str(job.pk), "--events", "all")
    history = shown.split("History:\n")[1].splitlines()
    assert history == [_event_line(job, n) for n in range(60)]

    document = json.loads(_run("show_job", str(job.pk), "--events", "all", "--json")[0])
    assert (document["events_left_out"], document["status"]) == (0, "pending")
    assert [event["message"] for event in document["events"]] == [f"wait {n}" for n in range(60)]


@pytest.mark.parametrize("value", ["-1", "ten", "1.5", ""])
def test_show_job_refuses_events_that_are_no_number(tenant, value):
    job = JobFactory(tenant=tenant)
    with pytest.raises(CommandError, match="give a number of events \\(0 or more\\) or 'all'"):
        _run("show_job", str(job.pk), "--events", value)


def _event_line(job: Job, number: int) -> str:
    event = job.events.get(message=f"wait {number}")
    return f"  {event.created_at:%Y-%m-%d %H:%M:%S} UTC  attempt 1  waiting   wait {number}"


def test_list_jobs_selects_like_clean_queue_and_its_ids_feed_requeue_job(tenant, other_tenant):
    dead = [
        JobFactory(tenant=tenant, status=Job.Status.FAILED, error_code="BOOM") for _ in range(3)
    ]
    JobFactory(tenant=tenant, status=Job.Status.COMPLETED)
    JobFactory(tenant=other_tenant, status=Job.Status.FAILED)

    out, _ = _run("list_jobs", "--status", "failed", "--tenant", tenant.slug, "--limit", "2")
    lines = out.splitlines()
    assert [line.split()[:5] for line in lines[:2]] == [
        [str(job.pk), "failed", "normal", "diagnostic", tenant.slug] for job in dead[:0:-1]
    ]
    assert lines[0].endswith("attempts 0/3 BOOM")
    assert lines[-1] == "3 jobs (the newest 2 listed; --limit for more)."

    dead += [JobFactory(tenant=tenant, status=Job.Status.FAILED) for _ in range(120)]
    ids, _ = _run("list_jobs", "--status", "failed", "--tenant", tenant.slug, "--ids")
    assert sorted(ids.split()) == sorted(str(job.pk) for job in dead)  # every one, not 100
    _run("requeue_job", *ids.split())
    assert Job.objects.filter(tenant=tenant, status=Job.Status.PENDING).count() == 123


def test_a_job_type_no_job_has_and_the_code_does_not_know_is_an_error(tenant):
    JobFactory(tenant=tenant, type="retired_type", status=Job.Status.COMPLETED)
    with pytest.raises(CommandError, match="No job type 'diagnotsic'. Job types: .*diagnostic"):
        _run("clean_queue", "--no-input", "--status", "completed", "--type", "diagnotsic")
    out, _ = _run("clean_queue", "--no-input", "--status", "completed", "--type", "retired_type")
    assert out == "Deleted 1 completed jobs with their history.\n"
    with pytest.raises(CommandError, match="--limit must be at least 1"):
        _run("list_jobs", "--limit", "0")


@pytest.mark.django_db(transaction=True)
def test_a_listing_piped_into_head_stops_quietly(tenant):
    import subprocess

    from tests.worker import ROOT, worker_env

    Job.objects.bulk_create(Job(tenant=tenant, type="diagnostic") for _ in range(3000))
    listing = subprocess.Popen(
        [sys.executable, "manage.py", "list_jobs", "--ids"],
        cwd=ROOT,
        env=worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert len(listing.stdout.readline().strip()) == 36
    listing.stdout.close()  # as `head -1` does
    assert listing.wait(60) == 1
    assert listing.stderr.read() == b""


@pytest.mark.django_db(transaction=True)
def test_the_pipeline_list_jobs_help_suggests_runs_with_nothing_listed_or_some(tenant):
    import re
    import shlex
    import subprocess

    from jobs.management.commands.list_jobs import Command
    from tests.worker import ROOT, worker_env

    pipeline = re.search(r"`(list_jobs [^`]*)`", Command.help).group(1)
    manage = f"{shlex.quote(sys.executable)} manage.py"
    pipeline = re.sub(r"(?:manage\.py )?\b(list_jobs|requeue_job)\b", rf"{manage} \1", pipeline)

    def run():
        return subprocess.run(
            pipeline, shell=True, cwd=ROOT, env=worker_env(), capture_output=True, text=True
        )

    nothing_failed = run()
    assert (nothing_failed.returncode, nothing_failed.stderr) == (0, "")
    dead = JobFactory(tenant=tenant, status=Job.Status.FAILED)
    assert run().returncode == 0
    dead.refresh_from_db()
    assert dead.status == Job.Status.PENDING


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("args", "refusal"),
    [
        (
            ["submit_job", "acme", "diagnostic", "--wait", "0"],
            "--wait 0 is not a number of seconds",
        ),
        (["list_jobs", "--older-than-hours", "-1"], "--older-than-hours -1 is not a number of"),
    ],
)
def test_a_number_out_of_range_at_the_command_line_is_one_line_and_exit_1(tenant, args, refusal):
    import subprocess

    from tests.worker import ROOT, worker_env

    tenant.slug = "acme"
    tenant.save()
    refused = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"CommandError: {refusal}")
    assert refused.stderr.count("\n") == 1
    assert not Job.objects.exists()


def test_clean_queue_says_how_far_it_has_got_cancelling_a_backlog(tenant, monkeypatch):
    for _ in range(5):
        JobFactory(tenant=tenant)
    monkeypatch.setattr(clean_queue, "CANCEL_PROGRESS_EVERY", 2)

    out, _ = _run("clean_queue", "--no-input", "--status", "pending")

    assert out.splitlines() == [
        "  went through 2 of 5 pending jobs…",
        "  went through 4 of 5 pending jobs…",
        "Canceled 5 pending jobs.",
    ]


def _api_time(value) -> str:
    from rest_framework.fields import DateTimeField

    return DateTimeField().to_representation(value)


def test_list_jobs_and_show_job_print_their_times_in_time_zone_and_name_it(tenant, settings):
    settings.TIME_ZONE = "America/New_York"
    job = JobFactory(tenant=tenant)
    Job.objects.filter(pk=job.pk).update(created_at=datetime(2026, 3, 2, 3, 4, 5, tzinfo=UTC))
    listed, _ = _run("list_jobs")
    shown, _ = _run("show_job", str(job.pk))
    assert " 2026-03-01 22:04 EST attempts " in listed
    assert "Created: 2026-03-01 22:04:05 EST  started: not yet  finished: not yet" in shown
