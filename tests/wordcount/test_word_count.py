"""The job type README's "Adding a job type" builds, submitted through the API and run by a real
worker: its progress and result, a retry after a RetryableError, a permanent failure."""

import pytest
from django.db import connection

from accounts.models import Tenant
from jobs.models import Job, JobEvent
from tests.factories import TenantFactory
from tests.wordcount.models import Document
from tests.worker import running_worker, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _priced(settings):
    settings.JOB_CREDIT_COSTS = {"word_count": 1}


def _submitted(api_client, document: Document) -> Job:
    response = api_client.post(
        "/api/v1/jobs", {"type": "word_count", "payload": {"document": document.pk}}, format="json"
    )
    assert response.status_code == 202, response.json()
    return Job.objects.get(pk=response.json()["id"])


def _finished(job: Job) -> None:
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, message=f"job {job.pk} finished")


def _history(job: Job) -> list[tuple[str, int, str]]:
    events = JobEvent.objects.filter(job=job).order_by("created_at", "id")
    return [(event.kind, event.attempt, event.message) for event in events]


def test_a_worker_counts_the_words_and_saves_the_count_with_the_completion(tenant, api_client):
    document = Document.objects.create(tenant=tenant, text="one two\nthree\n\nfour five six")
    response = api_client.post(
        "/api/v1/jobs", {"type": "word_count", "payload": {"document": document.pk}}, format="json"
    )
    assert response.status_code == 202
    job_id = response.json()["id"]

    with running_worker():
        wait_for(lambda: Job.objects.get(pk=job_id).is_finished, message="the job finished")

    job = api_client.get(f"/api/v1/jobs/{job_id}").json()
    assert (job["status"], job["attempts"], job["error"]) == ("completed", 1, None)
    assert job["result"] == {"words": 6, "lines": 4}
    # The last progress reported, at 100%, stays as the job's message.
    assert (job["progress"], job["message"]) == (100, "line 4 of 4")
    document.refresh_from_db()
    assert (document.words, document.counting) == (6, False)


def test_a_locked_document_is_counted_again_after_the_retry_delay(tenant, api_client):
    document = Document.objects.create(tenant=tenant, text="one two\nthree")
    job = _submitted(api_client, document)

    # Another session holds the document from before any worker runs the job until the first
    # attempt has failed on it.
    with connection.get_new_connection(connection.get_connection_params()) as other:
        other.execute(
            f"SELECT 1 FROM {Document._meta.db_table} WHERE id = %s FOR UPDATE", [document.pk]
        )
        with running_worker():
            failed_once = wait_for(
                lambda: Job.objects.filter(pk=job.pk, error_code="DOCUMENT_LOCKED").first(),
                message="the first attempt to fail on the lock",
            )
            other.rollback()
            # The attempt that failed keeps the progress it reported.
            assert (failed_once.status, failed_once.attempts) == (Job.Status.PENDING, 1)
            assert (failed_once.progress, failed_once.progress_message) == (100, "line 2 of 2")
            _finished(job)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.result) == (
        Job.Status.COMPLETED,
        2,
        {"words": 3, "lines": 2},
    )
    assert [(kind, attempt) for kind, attempt, _ in _history(job)] == [
        ("started", 1),
        ("retry", 1),
        ("started", 2),
    ]
    assert _history(job)[1][2].startswith(
        "DOCUMENT_LOCKED: Another change holds the document. — retry in 2.0s"
    )
    document.refresh_from_db()
    assert document.words == 3


def test_a_deleted_document_fails_the_job_at_once_and_its_credit_is_refunded(tenant, api_client):
    document = Document.objects.create(tenant=tenant, text="one two")
    job = _submitted(api_client, document)
    document.delete()

    with running_worker():
        _finished(job)

    shown = api_client.get(f"/api/v1/jobs/{job.pk}").json()
    assert (shown["status"], shown["attempts"]) == ("failed", 1)
    assert shown["error"] == {"code": "NOT_FOUND", "message": "The document was deleted."}
    assert (shown["credits_charged"], shown["credits_refunded"]) == (1, 1)
    assert Tenant.objects.get(pk=tenant.pk).credit_balance == 100


def test_a_submitted_job_charges_its_credit_and_its_cancel_gives_it_back(tenant, api_client):
    document = Document.objects.create(tenant=tenant, text="one two")
    job = _submitted(api_client, document)
    document.refresh_from_db()
    assert document.counting
    assert Tenant.objects.get(pk=tenant.pk).credit_balance == 99

    assert api_client.post(f"/api/v1/jobs/{job.pk}/cancel").status_code == 200

    document.refresh_from_db()
    assert (document.counting, document.words) == (False, None)
    assert Tenant.objects.get(pk=tenant.pk).credit_balance == 100


def test_another_workspaces_document_is_refused_at_submit(tenant, api_client):
    theirs = Document.objects.create(tenant=TenantFactory(slug="bob"), text="one two")

    response = api_client.post(
        "/api/v1/jobs", {"type": "word_count", "payload": {"document": theirs.pk}}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["errors"] == {"payload": {"document": ["No such document."]}}
    assert not Job.objects.exists()
