"""Concurrency caps per type and per workspace, and the waits they cause, with the task body run
in-process (tests/jobs/test_engine_e2e.py proves the caps across real worker processes)."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs import services
from jobs.errors import WaitForCapacity
from jobs.models import Job, JobEvent
from jobs.registry import JobType, job_type_get, job_type_register
from jobs.services import (
    CLAIM_LATER,
    WAITERS_PAGE,
    _capacity_wake,
    job_cancel,
    job_claim,
    job_execute,
    job_submit,
    jobs_reap_stale,
    jobs_sweep,
)


def _diagnostic(tenant) -> Job:
    return job_submit(tenant=tenant, type="diagnostic", payload={"steps": 0})


def _history(job) -> list[tuple[str, str]]:
    return [(event.kind, event.message) for event in job.events.exclude(kind="started")]


def _running_and_waiting(tenant, settings, waiting: int = 1) -> tuple[Job, list[Job]]:
    """A cap of one diagnostic job at once: one running, and `waiting` jobs waiting for its slot."""
    settings.JOBS_MAX_CONCURRENCY = {"diagnostic": 1}
    running = _diagnostic(tenant)
    assert isinstance(job_claim(running.pk), Job)
    jobs = [_diagnostic(tenant) for _ in range(waiting)]
    for job in jobs:
        assert job_claim(job.pk) == CLAIM_LATER
    return running, jobs


def test_a_workspace_at_its_cap_waits_while_another_workspace_starts(
    tenant, other_tenant, settings, published
):
    settings.JOBS_MAX_CONCURRENCY_PER_TENANT = {"diagnostic": 1}
    running = _diagnostic(tenant)
    assert isinstance(job_claim(running.pk), Job)
    second, others = _diagnostic(tenant), _diagnostic(other_tenant)
    assert job_claim(second.pk) == CLAIM_LATER
    assert isinstance(job_claim(others.pk), Job)
    Job.objects.filter(pk=running.pk).update(status=Job.Status.COMPLETED)
    assert isinstance(job_claim(second.pk), Job)


def test_a_wait_for_capacity_is_in_the_jobs_history_once(
    tenant, settings, published, django_capture_on_commit_callbacks
):
    settings.JOBS_MAX_CONCURRENCY = {"diagnostic": 1}
    running = _diagnostic(tenant)
    job_claim(running.pk)
    waiting = _diagnostic(tenant)
    for _ in range(3):
        with django_capture_on_commit_callbacks(execute=True):
            job_execute(job_id=str(waiting.pk))
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts) == (Job.Status.PENDING, 0)
    # Parked: nothing of it goes round the broker until a slot frees.
    assert published == []
    assert _history(waiting) == [
        (JobEvent.Kind.WAITING, "diagnostic is at its cap of 1 jobs running at once.")
    ]
    Job.objects.filter(pk=running.pk).update(status=Job.Status.COMPLETED)
    job_execute(job_id=str(waiting.pk))
    waiting.refresh_from_db()
    assert waiting.status == Job.Status.COMPLETED
    kinds = list(waiting.events.values_list("kind", "attempt"))
    assert kinds == [(JobEvent.Kind.WAITING, 1), (JobEvent.Kind.STARTED, 1)]


def test_waiting_jobs_take_a_freed_slot_oldest_first(
    tenant, settings, published, django_capture_on_commit_callbacks
):
    settings.JOBS_MAX_CONCURRENCY = {"diagnostic": 1}
    running = _diagnostic(tenant)
    first, second = _diagnostic(tenant), _diagnostic(tenant)
    assert isinstance(job_claim(running.pk), Job)
    with django_capture_on_commit_callbacks(execute=True):
        assert job_claim(second.pk) == CLAIM_LATER
        assert job_claim(first.pk) == CLAIM_LATER
    Job.objects.filter(pk=running.pk).update(status=Job.Status.COMPLETED)
    newcomer = _diagnostic(tenant)
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert job_claim(newcomer.pk) == CLAIM_LATER
    # The newcomer found the slot free but older jobs waiting for it: the oldest is woken at once.
    assert published == [first.pk]
    assert job_claim(second.pk) == CLAIM_LATER
    assert _history(newcomer) == [
        (JobEvent.Kind.WAITING, "Older jobs waiting for a free slot start first.")
    ]
    assert isinstance(job_claim(first.pk), Job)
    Job.objects.filter(pk=first.pk).update(status=Job.Status.COMPLETED)
    assert job_claim(newcomer.pk) == CLAIM_LATER
    assert isinstance(job_claim(second.pk), Job)


def test_an_urgent_job_goes_before_older_waiting_ones(tenant, settings, published):
    running, (waiting,) = _running_and_waiting(tenant, settings)
    urgent = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 0}, priority="urgent")
    Job.objects.filter(pk=running.pk).update(status=Job.Status.COMPLETED)
    assert isinstance(job_claim(urgent.pk), Job)


def test_a_waiting_workspace_at_its_own_cap_does_not_hold_back_another(
    tenant, other_tenant, settings, published
):
    settings.JOBS_MAX_CONCURRENCY = {"diagnostic": 2}
    settings.JOBS_MAX_CONCURRENCY_PER_TENANT = {"diagnostic": 1}
    assert isinstance(job_claim(_diagnostic(tenant).pk), Job)
    blocked = _diagnostic(tenant)
    assert job_claim(blocked.pk) == CLAIM_LATER
    assert isinstance(job_claim(_diagnostic(other_tenant).pk), Job)


def test_a_finished_attempt_wakes_the_next_waiting_job(
    tenant, settings, published, django_capture_on_commit_callbacks
):
    running, (waiting,) = _running_and_waiting(tenant, settings)
    urgent = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 0}, priority="urgent")
    Job.objects.filter(pk=running.pk).update(status=Job.Status.COMPLETED)
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        job_execute(job_id=str(urgent.pk))
    assert Job.objects.get(pk=urgent.pk).status == Job.Status.COMPLETED
    assert published == [waiting.pk]


def test_a_job_reaped_from_a_lost_worker_frees_its_slot_for_the_next_waiting_job(
    tenant, settings, published, django_capture_on_commit_callbacks
):
    lost, (waiting,) = _running_and_waiting(tenant, settings)
    long_ago = timezone.now() - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS + 5)
    Job.objects.filter(pk=lost.pk).update(heartbeat_at=long_ago)
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_reap_stale()["requeued"] == 1
    assert sorted(map(str, published)) == sorted([str(lost.pk), str(waiting.pk)])


def test_a_free_slot_is_not_held_for_a_workspace_its_own_cap_lets_start_only_one_job(
    tenant, other_tenant, settings, published, django_capture_on_commit_callbacks
):
    settings.JOBS_MAX_CONCURRENCY = {"diagnostic": 4}
    settings.JOBS_MAX_CONCURRENCY_PER_TENANT = {"diagnostic": 1}
    running = _diagnostic(tenant)
    assert isinstance(job_claim(running.pk), Job)
    waiting = [_diagnostic(tenant) for _ in range(4)]
    for job in waiting:
        assert job_claim(job.pk) == CLAIM_LATER
    Job.objects.filter(pk=running.pk).update(status=Job.Status.COMPLETED)
    # Of the workspace's four, one can start: the other workspace's new job takes a slot too,
    # and one, not four, of the waiting jobs is woken for the slots left.
    assert isinstance(job_claim(_diagnostic(other_tenant).pk), Job)
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_sweep()["woken"] == 1
    assert published == [waiting[0].pk]


def test_the_sweeper_wakes_waiting_jobs_for_a_slot_whose_wake_up_was_lost(
    tenant, settings, published, django_capture_on_commit_callbacks
):
    running, (first, second) = _running_and_waiting(tenant, settings, waiting=2)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_sweep() == {"published": 0, "woken": 0}
        # The job running ends without waking anyone (its worker died just after).
        Job.objects.filter(pk=running.pk).update(status=Job.Status.COMPLETED)
        published.clear()
        assert jobs_sweep() == {"published": 0, "woken": 1}
    assert published == [first.pk]


def test_a_job_waiting_for_a_cap_since_removed_is_published_by_the_sweeper(
    tenant, settings, published, django_capture_on_commit_callbacks
):
    _, (waiting,) = _running_and_waiting(tenant, settings)
    settings.JOBS_MAX_CONCURRENCY = {}
    published.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_sweep() == {"published": 1, "woken": 0}
    assert published == [waiting.pk]
    assert isinstance(job_claim(waiting.pk), Job)
    assert Job.objects.get(pk=waiting.pk).waiting_since is None


def _queries_to_wake(tenant, settings, waiting: int) -> int:
    """Queries of the wake after a job of a workspace with `waiting` jobs waiting ends, where the
    workspace's own cap lets one more of them start."""
    settings.JOBS_MAX_CONCURRENCY = {"diagnostic": 5}
    settings.JOBS_MAX_CONCURRENCY_PER_TENANT = {"diagnostic": 2}
    Job.objects.all().delete()
    ending, other = _diagnostic(tenant), _diagnostic(tenant)
    assert isinstance(job_claim(ending.pk), Job) and isinstance(job_claim(other.pk), Job)
    now = timezone.now()
    Job.objects.bulk_create(
        Job(
            tenant=tenant,
            type="diagnostic",
            created_at=now + timedelta(microseconds=i),
            waiting_since=now,
        )
        for i in range(waiting)
    )
    Job.objects.filter(pk=ending.pk).update(status=Job.Status.COMPLETED)
    with CaptureQueriesContext(connection) as captured:
        assert _capacity_wake(job_type_get("diagnostic"), tenant.pk) == 1
    return len(captured.captured_queries)


def test_a_wake_reads_no_more_of_a_long_line_than_the_slots_it_fills(tenant, settings, published):
    assert _queries_to_wake(tenant, settings, 20 * WAITERS_PAGE) == _queries_to_wake(
        tenant, settings, 2 * WAITERS_PAGE
    )


def test_a_job_waiting_for_a_cap_since_removed_is_published_once(
    tenant, settings, published, django_capture_on_commit_callbacks
):
    _, (waiting,) = _running_and_waiting(tenant, settings)
    settings.JOBS_MAX_CONCURRENCY = {}
    with django_capture_on_commit_callbacks(execute=True):
        jobs_sweep()
        published.clear()
        assert jobs_sweep() == {"published": 0, "woken": 0}
    assert published == []
    assert Job.objects.get(pk=waiting.pk).waiting_since is None


def test_a_woken_job_canceled_before_it_starts_hands_its_slot_to_the_next(
    tenant, settings, published, django_capture_on_commit_callbacks
):
    running, (woken, next_in_line) = _running_and_waiting(tenant, settings, waiting=2)
    Job.objects.filter(pk=running.pk).update(status=Job.Status.COMPLETED)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs_sweep()["woken"] == 1
    assert published == [woken.pk]
    with django_capture_on_commit_callbacks(execute=True):
        job_cancel(job=woken)
    assert published == [woken.pk, next_in_line.pk]


def test_a_waiting_job_canceled_is_no_longer_waiting(tenant, settings, published):
    _, (waiting,) = _running_and_waiting(tenant, settings)
    assert Job.objects.get(pk=waiting.pk).waiting_since is not None
    job_cancel(job=waiting)
    assert Job.objects.get(pk=waiting.pk).waiting_since is None


def test_a_job_canceled_while_its_claim_finds_no_slot_does_not_wait_after_its_cancel(
    tenant, settings, published, monkeypatch
):
    _running_and_waiting(tenant, settings, waiting=0)
    late = _diagnostic(tenant)
    full = services._capacity_full

    def full_then_canceled(job_type, job):
        reason = full(job_type, job)
        job_cancel(job=Job.objects.get(pk=late.pk))
        return reason

    monkeypatch.setattr(services, "_capacity_full", full_then_canceled)
    assert job_claim(late.pk) == CLAIM_LATER
    late.refresh_from_db()
    assert (late.status, late.waiting_since) == (Job.Status.CANCELED, None)
    assert [kind for kind, _ in _history(late)] == [JobEvent.Kind.CANCELED]


def test_a_workspace_cap_wait_says_so(tenant, settings, published):
    settings.JOBS_MAX_CONCURRENCY_PER_TENANT = {"diagnostic": 1}
    job_claim(_diagnostic(tenant).pk)
    waiting = _diagnostic(tenant)
    job_execute(job_id=str(waiting.pk))
    assert _history(waiting) == [
        (
            JobEvent.Kind.WAITING,
            "The workspace is at its cap of 1 diagnostic jobs running at once.",
        )
    ]


_provider_answers = []


def _call_a_busy_provider(ctx):
    if _provider_answers.pop(0) == "busy":
        raise WaitForCapacity(0, "openai is at 60 requests a minute")
    return {"ok": True}


def test_a_handler_waiting_for_a_provider_is_in_the_history_once_per_wait(tenant, published):
    job_type_register(JobType(name="test_busy_provider", handler=_call_a_busy_provider))
    _provider_answers[:] = ["busy", "busy", "busy", "ok"]
    job = job_submit(tenant=tenant, type="test_busy_provider", payload={})
    for _ in range(4):
        job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.COMPLETED, 1)
    assert _history(job) == [(JobEvent.Kind.WAITING, "openai is at 60 requests a minute")]


def test_stories_are_capped_per_workspace_unless_the_setting_says_otherwise(settings):
    story = job_type_get("story_generation")
    assert (story.concurrency_cap, story.concurrency_cap_per_tenant) == (5, 2)
    settings.JOBS_MAX_CONCURRENCY_PER_TENANT = {"story_generation": 3}
    assert story.concurrency_cap_per_tenant == 3
    assert job_type_get("diagnostic").concurrency_cap_per_tenant is None


def _queries_to_claim(tenant) -> int:
    job = _diagnostic(tenant)
    with CaptureQueriesContext(connection) as captured:
        assert isinstance(job_claim(job.pk, "diagnostic"), Job)
    return len(captured.captured_queries)


def test_a_workspace_cap_costs_the_claim_no_extra_query(tenant, settings):
    settings.JOBS_MAX_CONCURRENCY = {"diagnostic": 5}
    capped_once = _queries_to_claim(tenant)
    settings.JOBS_MAX_CONCURRENCY_PER_TENANT = {"diagnostic": 5}
    assert _queries_to_claim(tenant) == capped_once
