"""A deactivated workspace's work stops: its jobs are canceled (credits refunded once) or asked to
stop, and a worker refuses what is left of it in the broker. Real worker processes on the real
broker and the test database."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import CreditEntry
from accounts.services import tenant_active_set
from core.errors import Conflict
from jobs.models import Job, JobEvent
from jobs.services import job_execute, job_requeue, job_retry, job_submit
from tests.wordcount.models import Document
from tests.worker import running_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

DEACTIVATED = "as its workspace was deactivated"


@pytest.fixture(autouse=True)
def _priced(settings):
    settings.JOB_CREDIT_COSTS = {"diagnostic": 5, "word_count": 5}


def _finished(job: Job) -> Job:
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, message=f"job {job.pk} finished")
    job.refresh_from_db()
    return job


def _history(job: Job) -> list[tuple[str, str]]:
    return list(job.events.order_by("created_at", "id").values_list("kind", "message"))


def _refunds(job: Job) -> int:
    return CreditEntry.objects.filter(job=job, kind=CreditEntry.Kind.REFUND).count()


def test_deactivating_a_workspace_cancels_its_pending_jobs_and_stops_its_running_one(
    tenant, other_tenant
):
    running = job_submit(
        tenant=tenant, type="diagnostic", payload={"steps": 100, "step_seconds": 0.1}
    )
    bobs = job_submit(tenant=other_tenant, type="diagnostic", payload={"steps": 1})
    with running_worker(concurrency=1):
        wait_for(
            lambda: Job.objects.get(pk=running.pk).status == Job.Status.PROCESSING,
            message="the long job processing",
        )
        # Behind it on the worker's one process, and one waiting for its next attempt.
        queued = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 1})
        retrying = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 1})
        Job.objects.filter(pk=retrying.pk).update(
            attempts=1, next_retry_at=timezone.now() + timedelta(hours=1)
        )
        out = StringIO()
        call_command("deactivate_tenant", "alice", stdout=out)
        running, bobs = _finished(running), _finished(bobs)

    assert out.getvalue() == (
        "Workspace alice is deactivated.\n"
        "Asked 1 running job to stop: it ends canceled at its next check. Canceled 2 pending "
        "jobs (credits refunded).\n"
    )
    assert (running.status, running.attempts) == (Job.Status.CANCELED, 1)
    assert running.progress < 100
    assert [kind for kind, _ in _history(running)] == [
        JobEvent.Kind.STARTED,
        JobEvent.Kind.CANCEL_REQUESTED,
        JobEvent.Kind.CANCELED,
    ]
    assert _history(running)[1][1] == (
        f"Cancel asked by an operator {DEACTIVATED}; the attempt stops at its next check."
    )
    for job in (queued, retrying):
        job.refresh_from_db()
        assert job.status == Job.Status.CANCELED
        assert _history(job) == [
            (JobEvent.Kind.CANCELED, f"CANCELED: Canceled by an operator {DEACTIVATED}.")
        ]
    assert [_refunds(job) for job in (running, queued, retrying)] == [1, 1, 1]
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100
    # Another workspace's work goes on.
    assert (bobs.status, _refunds(bobs)) == (Job.Status.COMPLETED, 0)

    call_command("deactivate_tenant", "alice", "--undo", stdout=StringIO())
    assert set(tenant.jobs.values_list("status", flat=True)) == {Job.Status.CANCELED}


def test_a_message_delivered_after_the_deactivation_runs_nothing(tenant):
    document = Document.objects.create(tenant=tenant, text="one two three")
    job = job_submit(tenant=tenant, type="word_count", payload={"document": document.pk})
    # Its message is in the broker, the job pending, when the workspace goes inactive: a submit
    # that raced the deactivation's cancels.
    tenant_active_set(tenant=tenant, active=False)

    with running_worker():
        job = _finished(job)

    assert (job.status, job.attempts) == (Job.Status.CANCELED, 0)
    assert _history(job) == [
        (JobEvent.Kind.CANCELED, "CANCELED: Canceled as its workspace is inactive.")
    ]
    document.refresh_from_db()
    assert (document.words, document.counting) == (None, False)
    assert _refunds(job) == 1
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100


def test_a_claim_refuses_an_inactive_workspaces_job_of_a_type_without_caps(tenant):
    job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 1})
    tenant_active_set(tenant=tenant, active=False)

    assert job_execute(job_id=str(job.pk), type_name="diagnostic") is None

    job.refresh_from_db()
    assert (job.status, job.attempts, job.result, job.progress) == (
        Job.Status.CANCELED,
        0,
        None,
        0,
    )
    assert [kind for kind, _ in _history(job)] == [JobEvent.Kind.CANCELED]
    assert _refunds(job) == 1


def test_no_job_is_submitted_retried_or_requeued_for_an_inactive_workspace(tenant):
    failed = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 1})
    Job.objects.filter(pk=failed.pk).update(status=Job.Status.FAILED)
    tenant_active_set(tenant=tenant, active=False, actor=None)
    refused = "is deactivated: its jobs do not run. Reactivate it first."
    failed.refresh_from_db()
    with pytest.raises(Conflict, match=refused):
        job_submit(tenant=failed.tenant, type="diagnostic", payload={"steps": 1})
    with pytest.raises(Conflict, match=refused):
        job_retry(job=failed)
    with pytest.raises(Conflict, match=refused):
        job_requeue(job=failed)
    assert list(Job.objects.values_list("status", flat=True)) == [Job.Status.FAILED]
