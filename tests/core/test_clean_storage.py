"""`manage.py clean_storage`: stored files no row names go once older than the grace period."""

import os
import time
from io import StringIO
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
from django.core.management import CommandError, call_command

from generations.models import DrawnImage, GeneratedImage
from tests.invoices.factories import InvoiceFactory
from tests.jobs.factories import JobFactory

HOUR = 3600


@pytest.fixture(autouse=True)
def media(settings, tmp_path) -> Path:
    settings.MEDIA_ROOT = str(tmp_path)
    return tmp_path


def _stored(name: str, content: bytes = b"\x89PNG fox", hours_old: float = 48) -> str:
    """A file in the storage, last modified `hours_old` hours ago."""
    name = default_storage.save(name, ContentFile(content))
    then = time.time() - hours_old * HOUR
    os.utime(default_storage.path(name), (then, then))
    return name


def _clean(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("clean_storage", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_an_orphan_older_than_the_grace_is_deleted(tenant):
    orphan = _stored(f"generations/{tenant.pk}/lost.png", b"x" * 1234, hours_old=25)
    stale_pdf = _stored(f"invoices/{tenant.pk}/7_a1b2c3.pdf", b"%PDF" * 10, hours_old=24 * 90)

    out, err = _clean()

    assert not default_storage.exists(orphan)
    assert not default_storage.exists(stale_pdf)
    assert f"Deleted {orphan} (1,234 bytes)" in out
    assert f"Deleted {stale_pdf} (40 bytes)" in out
    assert out.splitlines()[-1] == (
        "Deleted 2 files (1,274 bytes freed); kept 0 (0 named by a row, 0 newer than 24 hours)."
    )
    assert err == ""


def test_a_recent_orphan_is_kept(tenant):
    being_saved = _stored(f"generations/{tenant.pk}/new.png", hours_old=23)

    out, _ = _clean()

    assert default_storage.exists(being_saved)
    assert out.splitlines()[-1] == (
        "Deleted 0 files (0 bytes freed); kept 1 (0 named by a row, 1 newer than 24 hours)."
    )


def test_the_grace_is_the_hours_given(tenant):
    orphan = _stored(f"generations/{tenant.pk}/lost.png", hours_old=2)
    recent = _stored(f"generations/{tenant.pk}/new.png", hours_old=0.5)

    _clean("--older-than-hours", "1")

    assert not default_storage.exists(orphan)
    assert default_storage.exists(recent)


def test_files_an_image_a_drawn_image_and_an_invoice_name_are_kept(tenant):
    image = _stored(f"generations/{tenant.pk}/image.png")
    drawn = _stored(f"generations/{tenant.pk}/drawn.png")
    pdf = _stored(f"invoices/{tenant.pk}/1.pdf", b"%PDF")
    orphan = _stored(f"generations/{tenant.pk}/lost.png")
    GeneratedImage.objects.create(tenant=tenant, prompt="a fox", file=image, width=1, height=1)
    job = JobFactory(tenant=tenant, type="image_generation")
    DrawnImage.objects.create(tenant=tenant, job=job, position=0, file=drawn, width=1, height=1)
    InvoiceFactory(tenant=tenant, pdf_file=pdf)

    out, _ = _clean()

    assert all(default_storage.exists(name) for name in (image, drawn, pdf))
    assert not default_storage.exists(orphan)
    assert out.splitlines()[-1].startswith(
        "Deleted 1 files (8 bytes freed); kept 3 (3 named by a row, 0 newer than 24 hours)."
    )


def test_a_dry_run_deletes_nothing_and_names_what_it_would_delete(tenant):
    orphan = _stored(f"generations/{tenant.pk}/lost.png", b"x" * 10)
    recent = _stored(f"generations/{tenant.pk}/new.png", hours_old=1)

    out, _ = _clean("--dry-run")

    assert default_storage.exists(orphan) and default_storage.exists(recent)
    assert out.splitlines() == [
        f"Would delete {orphan} (10 bytes)",
        "Would delete 1 files (10 bytes to free); kept 1 (0 named by a row, 1 newer than 24 hours).",
    ]


def test_files_outside_the_projects_folders_are_left_alone(tenant, media):
    _stored("backups/db.dump")
    _stored("notes.txt")

    out, _ = _clean()

    assert (media / "backups" / "db.dump").exists() and (media / "notes.txt").exists()
    assert out.startswith("Deleted 0 files")


def test_an_empty_storage_is_no_error(db):
    out, _ = _clean()
    assert (
        out
        == "Deleted 0 files (0 bytes freed); kept 0 (0 named by a row, 0 newer than 24 hours).\n"
    )


def test_the_names_are_read_in_one_query_however_many_files(tenant, django_assert_num_queries):
    for number in range(20):
        _stored(f"generations/{tenant.pk}/{number}.png")
    GeneratedImage.objects.create(
        tenant=tenant, prompt="a fox", file=f"generations/{tenant.pk}/0.png", width=1, height=1
    )

    with django_assert_num_queries(1):
        out, _ = _clean()

    assert out.splitlines()[-1].startswith("Deleted 19 files")


class RefusingStorage(FileSystemStorage):
    """Refuses to delete the files named in `refused`, as a bucket without the permission does."""

    refused: set[str] = set()

    def delete(self, name):
        if name in self.refused:
            raise PermissionError(f"Access denied to {name}")
        super().delete(name)


@pytest.fixture
def refusing_storage(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "tests.core.test_clean_storage.RefusingStorage"},
    }
    yield RefusingStorage
    RefusingStorage.refused = set()


def test_a_file_that_fails_to_delete_is_reported_and_the_others_still_go(tenant, refusing_storage):
    stuck = _stored(f"generations/{tenant.pk}/stuck.png")
    orphans = [_stored(f"generations/{tenant.pk}/{n}.png") for n in range(3)]
    refusing_storage.refused = {stuck}

    out, err = _clean()

    assert default_storage.exists(stuck)
    assert not any(default_storage.exists(name) for name in orphans)
    assert err == f"Could not delete {stuck}: Access denied to {stuck}\n"
    assert out.splitlines()[-1].endswith(
        "kept 0 (0 named by a row, 0 newer than 24 hours). 1 could not be deleted (listed above); "
        "they are left."
    )


@pytest.mark.parametrize("hours", ["0", "0.5", "-1", "nan"])
def test_a_grace_under_an_hour_is_refused_and_nothing_is_deleted(tenant, hours):
    orphan = _stored(f"generations/{tenant.pk}/lost.png")

    with pytest.raises(CommandError, match=f"--older-than-hours {hours} is not a number of hours"):
        _clean("--older-than-hours", hours)

    assert default_storage.exists(orphan)
