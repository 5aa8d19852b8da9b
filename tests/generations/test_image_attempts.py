"""An image job over several attempts, against the openai provider on loopback: the images an
attempt drew are kept for the next, and go with a job that ends without completing."""

import email.utils
import time
from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.services import tenant_delete
from core.ratelimit import Limit, rate_limit_hit
from generations.models import GeneratedImage
from jobs.models import Job, JobEvent
from jobs.services import job_execute, job_submit
from tests.generations.fake_openai import FakeOpenAI
from tests.generations.image_jobs import (
    BLUE,
    GREEN,
    RED,
    image_colours,
    images_drawn,
    images_stored,
    images_submit,
    png,
)


@pytest.fixture
def fake_openai(settings):
    server = FakeOpenAI()
    settings.GENERATION_PROVIDER = "openai"
    settings.OPENAI_BASE_URL = server.url
    settings.OPENAI_API_KEYS = ["key-one"]
    settings.OPENAI_RPM = 1000
    settings.GENERATION_HTTP_TIMEOUT = 1.0
    yield server
    server.close()


def _attempt(job: Job) -> Job:
    """Run the job's next attempt the moment it is due, as a worker would."""
    job.refresh_from_db()
    with time_machine.travel(
        (job.next_retry_at or timezone.now()) + timedelta(milliseconds=5), tick=False
    ):
        job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    return job


def test_a_retry_draws_only_the_images_the_failed_attempt_did_not(
    fake_openai, tenant, django_capture_on_commit_callbacks
):
    fake_openai.script = [("image", png(RED)), ("image", png(GREEN)), ("status", 500)]
    fake_openai.default = ("image", png(BLUE))
    with django_capture_on_commit_callbacks(execute=True):
        job = _attempt(images_submit(tenant, 3))
        assert (job.status, job.error_code) == (Job.Status.PENDING, "PROVIDER_ERROR")
        assert len(images_stored(tenant)) == 2
        job = _attempt(job)

    assert job.status == Job.Status.COMPLETED, job.error_message
    # Three images asked for, and the one the provider failed on asked for again: not six.
    assert images_drawn(fake_openai) == 3 + 1
    assert image_colours(job) == [RED, GREEN, BLUE]
    assert len(images_stored(tenant)) == 3
    assert (job.progress, job.progress_message) == (100, "")


def test_a_job_that_waits_for_its_key_after_a_429_keeps_the_image_it_drew(
    fake_openai, tenant, django_capture_on_commit_callbacks
):
    fake_openai.script = [("image", png(RED)), ("status", 429)]  # with Retry-After: 60
    fake_openai.default = ("image", png(GREEN))
    with django_capture_on_commit_callbacks(execute=True):
        job = _attempt(images_submit(tenant, 2))
        while job.status == Job.Status.PENDING:
            job = _attempt(job)
    assert job.status == Job.Status.COMPLETED, job.error_message
    assert images_drawn(fake_openai) == 2 + 1
    assert image_colours(job) == [RED, GREEN]
    waits = job.events.filter(kind=JobEvent.Kind.WAITING).values_list("message", flat=True)
    assert list(waits) == ["every openai API key rests after a 429 (Retry-After)"]


def test_a_retry_counts_only_the_images_it_still_draws_against_the_providers_rate(
    fake_openai, tenant, settings, django_capture_on_commit_callbacks
):
    settings.OPENAI_RPM = 3
    fake_openai.script = [("image", None), ("image", None), ("status", 500)]
    fake_openai.default = ("image", None)
    with django_capture_on_commit_callbacks(execute=True):
        job = _attempt(images_submit(tenant, 3))
        assert job.status == Job.Status.PENDING
        later = job.next_retry_at + timedelta(minutes=2)
        with time_machine.travel(later, tick=False):
            # Another job takes two of the three requests of the minute: one is left, enough.
            for _ in range(2):
                assert rate_limit_hit([Limit("provider", "provider:openai:rpm", 3, 60)]).allowed
            job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    assert job.status == Job.Status.COMPLETED, job.error_message
    assert images_drawn(fake_openai) == 3 + 1
    assert len(job.result["imageIds"]) == 3


def test_a_job_that_fails_for_good_leaves_none_of_the_images_it_drew(
    fake_openai, tenant, django_capture_on_commit_callbacks
):
    fake_openai.script = [("image", None), ("image", None)]
    fake_openai.default = ("status", 500)
    with django_capture_on_commit_callbacks(execute=True):
        job = _attempt(images_submit(tenant, 3))
    assert len(images_stored(tenant)) == 2
    with django_capture_on_commit_callbacks(execute=True):
        while job.status == Job.Status.PENDING:
            job = _attempt(job)

    assert (job.status, job.error_code) == (Job.Status.FAILED, "PROVIDER_ERROR")
    # The two images drawn were never drawn again: each later attempt asked for the third only.
    assert len(fake_openai.requests) == 3 + 1 + 1
    assert images_stored(tenant) == []
    assert not GeneratedImage.objects.exists()


def test_a_job_canceled_between_attempts_leaves_none_of_the_images_it_drew(
    fake_openai, tenant, api_client, django_capture_on_commit_callbacks
):
    fake_openai.script = [("image", None), ("image", None), ("status", 503)]
    with django_capture_on_commit_callbacks(execute=True):
        job = _attempt(images_submit(tenant, 3))
    assert job.status == Job.Status.PENDING
    assert len(images_stored(tenant)) == 2

    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post(f"/api/v1/jobs/{job.pk}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert images_stored(tenant) == []


def test_a_workspace_deleted_while_its_image_job_waits_takes_the_images_drawn(
    fake_openai, tenant, django_capture_on_commit_callbacks
):
    fake_openai.script = [("image", None), ("status", 500)]
    with django_capture_on_commit_callbacks(execute=True):
        job = _attempt(images_submit(tenant, 2))
    assert (job.status, len(images_stored(tenant))) == (Job.Status.PENDING, 1)

    with django_capture_on_commit_callbacks(execute=True):
        tenant_delete(tenant=tenant)
    assert images_stored(tenant) == []


def _flashcards(tenant) -> Job:
    job = job_submit(
        tenant=tenant, type="flashcard_generation", payload={"text": "The moon pulls the tides."}
    )
    job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    return job


@pytest.mark.parametrize(
    ("retry_after", "wait"),
    [
        ("120", 120),
        (lambda: email.utils.formatdate(time.time() + 90, usegmt=True), 90),
        ("86400", 600),  # at most ten minutes, whatever it says
    ],
    ids=["seconds", "date", "capped"],
)
def test_a_server_errors_retry_after_sets_when_the_job_is_tried_again(
    fake_openai, tenant, retry_after, wait
):
    if callable(retry_after):
        retry_after = retry_after()
    fake_openai.script = [("status", (503, {"Retry-After": retry_after}))]
    asked = timezone.now()
    job = _flashcards(tenant)
    answered = timezone.now()
    assert (job.status, job.error_code) == (Job.Status.PENDING, "PROVIDER_ERROR")
    # Counted from the 503, which came between the two.
    assert (job.next_retry_at - asked).total_seconds() >= wait - 5
    assert (job.next_retry_at - answered).total_seconds() <= wait + 5
    retry = job.events.get(kind=JobEvent.Kind.RETRY)
    assert "answered 503" in retry.message
