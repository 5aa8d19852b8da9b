import errno
import io
from datetime import timedelta

import pytest
import time_machine
from django.core.files.storage import FileSystemStorage
from pypdf import PdfReader

from accounts.models import AuditEvent, Notification
from invoices.models import Invoice
from invoices.services import invoice_pdf_request
from jobs.models import Job
from jobs.services import job_execute
from tests.invoices.factories import InvoiceFactory, line


def _run(job):
    job.refresh_from_db()
    with time_machine.travel(job.next_retry_at + timedelta(milliseconds=10)):
        job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    return job


@pytest.fixture
def invoice(tenant, tenant_admin):
    invoice = InvoiceFactory(tenant=tenant, number="2026-0100")
    line(invoice, "Design", 10, 95, 25)
    return invoice


def test_three_quick_changes_queue_one_render(invoice):
    jobs = set()
    for description in ["First", "Second", "Third"]:
        invoice.lines.update(description=description)
        jobs.add(invoice_pdf_request(invoice=invoice).pk)
    assert len(jobs) == 1
    assert Job.objects.filter(type="invoice_pdf").count() == 1
    job = _run(Job.objects.get())
    assert job.status == Job.Status.COMPLETED
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.READY
    text = PdfReader(io.BytesIO(invoice.pdf_file.read())).pages[0].extract_text()
    assert "Third" in text
    assert AuditEvent.objects.filter(action="export", resource_id=str(invoice.pk)).count() == 1


def test_a_change_during_a_render_is_followed_by_a_fresh_render(
    invoice, monkeypatch, django_capture_on_commit_callbacks
):
    job = invoice_pdf_request(invoice=invoice)
    from invoices import services

    real_render = services.html_to_pdf

    def render_then_change(html):
        rendered = real_render(html)
        invoice.lines.update(description="Changed while rendering")
        invoice_pdf_request(invoice=invoice)
        return rendered

    monkeypatch.setattr(services, "html_to_pdf", render_then_change)
    with django_capture_on_commit_callbacks(execute=True):
        job = _run(job)
    assert job.status == Job.Status.COMPLETED
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.PENDING
    fresh = Job.objects.exclude(pk=job.pk).get(type="invoice_pdf")
    monkeypatch.setattr(services, "html_to_pdf", real_render)
    assert _run(fresh).status == Job.Status.COMPLETED
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.READY
    assert (
        "Changed while rendering"
        in PdfReader(io.BytesIO(invoice.pdf_file.read())).pages[0].extract_text()
    )


class FullDiskStorage(FileSystemStorage):
    def _save(self, name, content):
        raise OSError(errno.ENOSPC, "No space left on device")


def test_a_full_disk_alerts_at_once_retries_on_schedule_then_dead_letters(
    invoice, tenant_admin, settings
):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "tests.invoices.test_invoice_pdf_jobs.FullDiskStorage"},
    }
    job = invoice_pdf_request(invoice=invoice)
    waits = []
    for _ in range(3):
        job = _run(job)
        assert job.status == Job.Status.PENDING
        assert job.error_code == "STORAGE_FULL"
        waits.append(round((job.next_retry_at - job.started_at).total_seconds()))
    assert waits == [60, 300, 900]
    full = Notification.objects.filter(user=tenant_admin, alert_key="storage-full")
    assert full.count() == 1
    job = _run(job)
    assert job.status == Job.Status.FAILED
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.FAILED
    assert Notification.objects.filter(user=tenant_admin, kind="invoice_pdf_failed").count() == 1


def test_the_render_command_renders_synchronously(invoice):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("render_invoice_pdf", str(invoice.pk), stdout=out)
    assert "1 pages" in out.getvalue()
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.READY
    assert invoice.pdf_file.name == f"invoices/{invoice.tenant_id}/{invoice.pk}.pdf"
