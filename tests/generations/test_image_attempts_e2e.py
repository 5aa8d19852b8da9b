"""An image job on real worker processes, against the openai provider on loopback: a worker
stopped or killed while it draws leaves the images it drew to the next attempt, and a job that
ends without completing leaves no image in the storage."""

import os
import signal
import time

import pytest

from accounts.models import CreditEntry
from generations.models import DrawnImage, GeneratedImage
from jobs.models import Job, JobEvent
from jobs.services import job_cancel, job_requeue, jobs_reap_stale
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
from tests.worker import running_worker, wait_for, worker_stop

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fake_openai():
    server = FakeOpenAI()
    yield server
    server.close()


def _provider_env(server: FakeOpenAI) -> dict:
    return {
        "GENERATION_PROVIDER": "openai",
        "OPENAI_BASE_URL": server.url,
        "OPENAI_API_KEYS": "key-one",
        "OPENAI_RPM": "1000",
        "GENERATION_HTTP_TIMEOUT": "30",
    }


def _drawing(job: Job, image: int, server: FakeOpenAI) -> None:
    """Wait until the worker has kept the job's images before its `image`th (1-based) and the
    provider has that image's request in hand (and sleeps on it, as scripted)."""
    wait_for(
        lambda: DrawnImage.objects.filter(job=job).count() == image - 1
        and images_drawn(server) == image,
        message=f"image {image - 1} kept and image {image} asked for",
    )


def _finished(job: Job, timeout: float = 60) -> Job:
    wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, timeout=timeout, message="finished")
    job.refresh_from_db()
    return job


def test_a_pool_process_stopped_while_drawing_leaves_its_images_to_the_next_attempt(
    fake_openai, tenant
):
    fake_openai.script = [("image", png(RED)), ("image", png(GREEN)), ("sleep", 30)]
    fake_openai.default = ("image", png(BLUE))
    job = images_submit(tenant, 3)
    with running_worker(extra_env=_provider_env(fake_openai)) as worker:
        _drawing(job, 3, fake_openai)
        worker_stop(worker, sig=signal.SIGTERM, timeout=30)
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.PENDING, 0)
    assert job.events.last().kind == JobEvent.Kind.REQUEUED
    assert len(images_stored(tenant)) == 2

    with running_worker(extra_env=_provider_env(fake_openai)):
        job = _finished(job)
    assert job.status == Job.Status.COMPLETED, job.error_message
    assert image_colours(job) == [RED, GREEN, BLUE]
    assert images_drawn(fake_openai) == 3 + 1
    assert len(images_stored(tenant)) == 3
    assert not DrawnImage.objects.exists()


def _killed_while_drawing(job: Job, image: int, server: FakeOpenAI, settings) -> None:
    """Kill the worker (SIGKILL) while it draws the job's `image`th image, and let its heartbeat
    go stale for the reaper."""
    with running_worker(extra_env=_provider_env(server)) as worker:
        _drawing(job, image, server)
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    settings.JOBS_STALE_AFTER_SECONDS = 1
    time.sleep(1.5)


def test_a_worker_killed_while_drawing_leaves_its_images_to_the_attempt_after_the_reaper(
    fake_openai, tenant, settings
):
    fake_openai.script = [("image", png(RED)), ("sleep", 30)]
    fake_openai.default = ("image", png(GREEN))
    job = images_submit(tenant, 2)
    _killed_while_drawing(job, 2, fake_openai, settings)
    assert jobs_reap_stale() == {"requeued": 1, "failed": 0, "canceled": 0, "left": 0}
    assert len(images_stored(tenant)) == 1

    with running_worker(extra_env=_provider_env(fake_openai)):
        job = _finished(job)
    assert job.status == Job.Status.COMPLETED, job.error_message
    assert job.attempts == 2
    assert image_colours(job) == [RED, GREEN]
    assert len(images_stored(tenant)) == 2


def test_a_worker_killed_on_the_last_attempt_leaves_none_of_the_images_it_drew(
    fake_openai, tenant, settings
):
    fake_openai.script = [("image", None), ("sleep", 30)]
    job = images_submit(tenant, 2)
    Job.objects.filter(pk=job.pk).update(max_attempts=1)
    _killed_while_drawing(job, 2, fake_openai, settings)
    assert jobs_reap_stale() == {"requeued": 0, "failed": 1, "canceled": 0, "left": 0}
    job.refresh_from_db()
    assert (job.status, job.error_code) == (Job.Status.FAILED, "WORKER_LOST")
    assert images_stored(tenant) == []
    assert not DrawnImage.objects.exists()


# Canceled while it draws its second image: with a third still to draw, or as its last.
@pytest.mark.parametrize("count", [3, 2])
def test_a_job_canceled_while_it_draws_ends_canceled_and_refunded_without_its_images(
    fake_openai, tenant, settings, count
):
    settings.JOB_CREDIT_COSTS = {"image_generation": 5}
    fake_openai.script = [("image", None), ("sleep", (3, ("image", None)))]
    fake_openai.default = ("image", None)
    job = images_submit(tenant, count)
    with running_worker(extra_env=_provider_env(fake_openai)):
        _drawing(job, 2, fake_openai)
        job_cancel(job=job)
        job = _finished(job)
    assert (job.status, job.error_code) == (Job.Status.CANCELED, "CANCELED")
    assert images_drawn(fake_openai) == 2  # a third is never asked for
    assert images_stored(tenant) == []
    assert not DrawnImage.objects.exists()
    assert not GeneratedImage.objects.exists()
    assert CreditEntry.objects.filter(job=job, kind=CreditEntry.Kind.REFUND).count() == 1
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100


def test_a_dead_letter_image_job_requeued_draws_every_image_again(fake_openai, tenant, settings):
    settings.JOB_CREDIT_COSTS = {"image_generation": 5}
    fake_openai.script = [("image", png(RED)), ("status", 400)]
    fake_openai.default = ("image", png(GREEN))
    job = images_submit(tenant, 2)
    with running_worker(extra_env=_provider_env(fake_openai)):
        job = _finished(job)
        assert (job.status, job.error_code) == (Job.Status.FAILED, "MODEL_ERROR")
        assert images_stored(tenant) == []
        job_requeue(job=job)
        job = _finished(job)
    assert job.status == Job.Status.COMPLETED, job.error_message
    assert image_colours(job) == [GREEN, GREEN]
    assert images_drawn(fake_openai) == 2 + 2
    assert len(images_stored(tenant)) == 2
    tenant.refresh_from_db()
    assert tenant.credit_balance == 95
