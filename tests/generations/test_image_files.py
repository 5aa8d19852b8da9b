"""Image files and their rows: a file is kept only when its row is written."""

import logging
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import transaction
from django.test import Client

from generations.models import GeneratedImage
from generations.providers import provider_get
from generations.schemas import OutputInvalid
from generations.services import _images_save
from generations.signing import file_path, view_token, view_url
from jobs.context import JobContext
from jobs.models import Job
from jobs.services import job_claim
from tests.jobs.factories import JobFactory


def _claimed(tenant) -> Job:
    """An image generation a worker has claimed, as its handler gets it."""
    return job_claim(JobFactory(tenant=tenant, type="image_generation").pk)


def _stored_images(tenant) -> list[Path]:
    return list((Path(settings.MEDIA_ROOT) / "generations" / str(tenant.pk)).glob("*.png"))


def test_a_generation_that_fails_after_saving_a_file_leaves_no_file_behind(tenant):
    job = _claimed(tenant)
    good = provider_get("offline").image("a fox", 64, 64)
    with pytest.raises(OutputInvalid):
        _images_save(JobContext(job), GeneratedImage.Kind.GENERATION, "a fox", [good, b"junk"])
    assert _stored_images(tenant) == []
    assert not GeneratedImage.objects.exists()


def test_a_generation_that_completes_keeps_its_files(tenant):
    job = _claimed(tenant)
    good = provider_get("offline").image("a fox", 64, 64)
    _images_save(JobContext(job), GeneratedImage.Kind.GENERATION, "a fox", [good, good])
    assert len(_stored_images(tenant)) == 2
    assert GeneratedImage.objects.filter(job=job).count() == 2


def test_an_image_deleted_takes_its_file_once_the_deletion_commits(
    tenant, admin_client, django_capture_on_commit_callbacks
):
    job = _claimed(tenant)
    png = provider_get("offline").image("a fox", 64, 64)
    _images_save(JobContext(job), GeneratedImage.Kind.GENERATION, "a fox", [png, png])
    kept, deleted = GeneratedImage.objects.order_by("pk")

    with pytest.raises(RuntimeError), transaction.atomic():
        kept.delete()
        raise RuntimeError("rolled back")
    assert len(_stored_images(tenant)) == 2

    with django_capture_on_commit_callbacks(execute=True):
        page = admin_client.post(
            f"/admin/generations/generatedimage/{deleted.pk}/delete/", {"post": "yes"}
        )
    assert page.status_code == 302
    assert _stored_images(tenant) == [Path(settings.MEDIA_ROOT) / kept.file.name]


def test_staff_see_an_image_in_the_admin_and_cannot_replace_it(tenant, admin_client):
    job = _claimed(tenant)
    png = provider_get("offline").image("a fox", 64, 64)
    _images_save(JobContext(job), GeneratedImage.Kind.GENERATION, "a fox", [png])
    image = GeneratedImage.objects.get()

    page = admin_client.get(f"/admin/generations/generatedimage/{image.pk}/change/")
    body = page.content.decode()
    assert 'type="file"' not in body
    src = re.search(r'<img src="([^"]+)" alt="a fox"', body).group(1)
    shown = admin_client.get(src)
    assert shown.status_code == 200 and shown["Content-Type"] == "image/png"
    assert b"".join(shown.streaming_content) == png
    assert admin_client.get("/admin/generations/generatedimage/add/").status_code == 403


def test_an_image_link_whose_file_is_gone_answers_like_an_unknown_link_and_is_logged(
    tenant, caplog
):
    job = _claimed(tenant)
    png = provider_get("offline").image("a fox", 64, 64)
    _images_save(JobContext(job), GeneratedImage.Kind.GENERATION, "a fox", [png])
    image = GeneratedImage.objects.get()
    default_storage.delete(image.file.name)
    client = Client(raise_request_exception=False)
    unknown = client.get("/v/no-such-link/file")

    with caplog.at_level(logging.ERROR, logger="generations.pages"):
        response = client.get(file_path("image", image.pk))
    assert response.status_code == 404
    assert response.content == unknown.content
    assert _headers(response) == _headers(unknown)
    assert any(image.file.name in record.getMessage() for record in caplog.records)
    assert view_token("image", image.pk) not in caplog.text

    page = client.get(view_url("images", str(job.pk)).removeprefix(settings.PUBLIC_BASE_URL))
    assert page.status_code == 200 and "a fox" in page.content.decode()


def _headers(response) -> dict:
    return {name: value for name, value in response.headers.items() if name != "X-Request-Id"}
