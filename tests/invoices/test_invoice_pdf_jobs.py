import errno
import getpass
import html
import io
import os
import re
import socket
from datetime import timedelta

import pytest
import time_machine
from django.core.files.storage import FileSystemStorage
from pypdf import PdfReader

from accounts.models import AuditEvent, Notification, Tenant
from invoices.models import Invoice
from invoices.services import invoice_pdf_request
from jobs.models import Job
from jobs.services import job_cancel, job_claim, job_execute, job_requeue
from tests.invoices.factories import ClientFactory, InvoiceFactory, line


def _run(job):
    job.refresh_from_db()
    with time_machine.travel(job.next_retry_at + timedelta(milliseconds=10)):
        job_execute(job_id=str(job.pk))
    job.refresh_from_db()
    return job


def _invoice_over_the_api(api_client, number: str) -> dict:
    """A one-line invoice created as a client does: its render is queued, not run."""
    return api_client.post(
        "/api/v1/invoices",
        {
            "number": number,
            "lines": [{"description": "Design", "quantity": "1", "unit_price": "10"}],
        },
        format="json",
    ).json()


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
    from invoices import rendering

    real_render = rendering.html_to_pdf

    def render_then_change(html):
        rendered = real_render(html)
        invoice.lines.update(description="Changed while rendering")
        invoice_pdf_request(invoice=invoice)
        return rendered

    monkeypatch.setattr(rendering, "html_to_pdf", render_then_change)
    with django_capture_on_commit_callbacks(execute=True):
        job = _run(job)
    assert job.status == Job.Status.COMPLETED
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.PENDING
    fresh = Job.objects.exclude(pk=job.pk).get(type="invoice_pdf")
    monkeypatch.setattr(rendering, "html_to_pdf", real_render)
    assert _run(fresh).status == Job.Status.COMPLETED
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.READY
    assert (
        "Changed while rendering"
        in PdfReader(io.BytesIO(invoice.pdf_file.read())).pages[0].extract_text()
    )


class BrokenStorage(FileSystemStorage):
    """Every save fails with the OS error `error`, until it is set to None."""

    error: int | None = None

    def _save(self, name, content):
        if BrokenStorage.error is not None:
            raise OSError(BrokenStorage.error, os.strerror(BrokenStorage.error))
        return super()._save(name, content)


@pytest.fixture
def storage(settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "tests.invoices.test_invoice_pdf_jobs.BrokenStorage"},
    }
    yield BrokenStorage
    BrokenStorage.error = None


def _fail_for_good(invoice) -> Job:
    job = invoice_pdf_request(invoice=invoice)
    for _ in range(4):
        job = _run(job)
    assert job.status == Job.Status.FAILED
    return job


def test_a_full_disk_alerts_at_once_retries_on_schedule_then_dead_letters(
    invoice, tenant_admin, storage
):
    storage.error = errno.ENOSPC
    job = invoice_pdf_request(invoice=invoice)
    waits = []
    for _ in range(3):
        job = _run(job)
        assert job.status == Job.Status.PENDING
        assert job.error_code == "STORAGE_FULL"
        # Between attempts the invoice says its PDF is on its way, not being rendered.
        invoice.refresh_from_db()
        assert invoice.pdf_status == Invoice.PdfStatus.PENDING
        waits.append(round((job.next_retry_at - job.started_at).total_seconds()))
    # From the attempt's start: a slow render on a busy machine adds its own second or two.
    assert waits == pytest.approx([60, 300, 900], abs=3)
    full = Notification.objects.filter(user=tenant_admin, alert_key="storage-full")
    assert full.count() == 1
    job = _run(job)
    assert job.status == Job.Status.FAILED
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.FAILED
    assert Notification.objects.filter(user=tenant_admin, kind="invoice_pdf_failed").count() == 1


def test_a_disk_that_fills_up_again_after_a_pdf_was_stored_alerts_again(
    invoice, tenant_admin, storage
):
    storage.error = errno.ENOSPC
    job = _run(invoice_pdf_request(invoice=invoice))
    full = Notification.objects.filter(user=tenant_admin, alert_key="storage-full")
    assert full.count() == 1
    storage.error = None  # space was freed: the retry stores the PDF
    assert _run(job).status == Job.Status.COMPLETED
    assert full.get().resolved_at is not None

    storage.error = errno.ENOSPC
    invoice.lines.update(description="A month later")
    job = _run(invoice_pdf_request(invoice=invoice))
    assert job.error_code == "STORAGE_FULL"
    assert full.count() == 2
    assert full.filter(resolved_at__isnull=True).count() == 1


def test_a_render_that_cannot_be_stored_keeps_the_pdf_stored_before(
    invoice, api_client, storage, django_capture_on_commit_callbacks
):
    assert _run(invoice_pdf_request(invoice=invoice)).status == Job.Status.COMPLETED
    sent = api_client.get(f"/api/v1/invoices/{invoice.pk}/pdf")
    assert sent.status_code == 200

    storage.error = errno.EIO
    invoice.lines.update(description="Changed while the storage fails")
    assert _run(invoice_pdf_request(invoice=invoice)).error_code == "STORAGE_ERROR"
    download = api_client.get(f"/api/v1/invoices/{invoice.pk}/pdf")
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"".join(sent.streaming_content)

    storage.error = None
    with django_capture_on_commit_callbacks(execute=True):
        assert _run(Invoice.objects.get(pk=invoice.pk).pdf_job).status == Job.Status.COMPLETED
    invoice.refresh_from_db()
    text = PdfReader(io.BytesIO(invoice.pdf_file.read())).pages[0].extract_text()
    assert "Changed while the storage fails" in text
    # The PDF it replaced is gone: one file per invoice.
    assert os.listdir(os.path.dirname(invoice.pdf_file.path)) == [
        os.path.basename(invoice.pdf_file.name)
    ]


def test_a_pdf_gone_from_the_storage_answers_404_and_is_rendered_again(
    invoice, api_client, admin_client, django_capture_on_commit_callbacks
):
    assert _run(invoice_pdf_request(invoice=invoice)).status == Job.Status.COMPLETED
    invoice.refresh_from_db()
    invoice.pdf_file.delete(save=False)
    page = admin_client.get(f"/admin/invoices/invoice/{invoice.pk}/change/").content.decode()
    assert "is missing from the storage: render the PDF again" in page
    response = api_client.get(f"/api/v1/invoices/{invoice.pk}/pdf")
    assert response.status_code == 404
    assert response.json()["detail"] == (
        "The PDF is missing from the storage; it is being rendered again: follow pdf_status."
    )
    assert api_client.get(f"/api/v1/invoices/{invoice.pk}").json()["pdf_status"] == "pending"
    assert admin_client.get(f"/admin/invoices/invoice/{invoice.pk}/pdf/").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        assert _run(Invoice.objects.get(pk=invoice.pk).pdf_job).status == Job.Status.COMPLETED
    assert api_client.get(f"/api/v1/invoices/{invoice.pk}/pdf").status_code == 200
    renders = re.search(r'<a href="([^"]+)">renders stored</a>', page).group(1)
    listed = admin_client.get(html.unescape(renders)).context["cl"].result_list
    assert [(event.action, event.resource_id) for event in listed] == [
        ("export", str(invoice.pk))
    ] * 2


def test_deleting_a_draft_whose_pdf_failed_closes_its_alert(
    invoice, tenant_admin, storage, api_client
):
    storage.error = errno.EIO
    _fail_for_good(invoice)
    failed = Notification.objects.get(user=tenant_admin, kind="invoice_pdf_failed")
    assert failed.resolved_at is None

    assert api_client.delete(f"/api/v1/invoices/{invoice.pk}").status_code == 204

    failed.refresh_from_db()
    assert failed.resolved_at is not None


def test_a_pdf_that_fails_again_after_a_good_render_alerts_again(invoice, tenant_admin, storage):
    failed = Notification.objects.filter(user=tenant_admin, kind="invoice_pdf_failed")
    storage.error = errno.EIO
    _fail_for_good(invoice)
    _fail_for_good(invoice)
    assert failed.count() == 1  # still open: not sent twice

    storage.error = None
    assert _run(invoice_pdf_request(invoice=invoice)).status == Job.Status.COMPLETED
    assert failed.get().resolved_at is not None

    storage.error = errno.EIO
    _fail_for_good(invoice)
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.FAILED
    assert failed.count() == 2


def test_the_render_command_renders_synchronously_as_the_operator(invoice):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("render_invoice_pdf", str(invoice.pk), stdout=out)
    assert "(pages: 1)" in out.getvalue()
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.READY
    assert invoice.pdf_file.name == f"invoices/{invoice.tenant_id}/{invoice.pk}.pdf"
    export = AuditEvent.objects.get(action="export", resource_id=str(invoice.pk))
    # The operator at the command line rendered it, not a worker.
    assert (export.actor_type, export.actor_label) == (
        AuditEvent.ActorType.OPERATOR,
        f"manage.py ({getpass.getuser()}@{socket.gethostname()})",
    )


def test_the_render_command_with_the_storage_failing_says_so_and_changes_nothing(invoice, storage):
    from django.core.management import CommandError, call_command

    storage.error = errno.EACCES
    with pytest.raises(CommandError, match=r"could not be stored \(\[Errno 13\] Permission"):
        call_command("render_invoice_pdf", str(invoice.pk))
    invoice.refresh_from_db()
    assert (invoice.pdf_status, invoice.pdf_file.name) == (Invoice.PdfStatus.NONE, "")


def test_staff_download_the_pdf_from_the_admin_and_cannot_replace_it(invoice, admin_client, client):
    from django.core.management import call_command

    page_url = f"/admin/invoices/invoice/{invoice.pk}/change/"
    pdf_url = f"/admin/invoices/invoice/{invoice.pk}/pdf/"
    assert admin_client.get(pdf_url).status_code == 404
    call_command("render_invoice_pdf", str(invoice.pk), stdout=io.StringIO())

    page = admin_client.get(page_url).content.decode()
    assert f'href="{pdf_url}"' in page
    assert 'type="file"' not in page and "pdf_file-clear" not in page
    response = admin_client.get(pdf_url)
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    assert 'filename="invoice-2026-0100.pdf"' in response["Content-Disposition"]
    text = PdfReader(io.BytesIO(b"".join(response.streaming_content))).pages[0].extract_text()
    assert "2026-0100" in text
    assert client.get(pdf_url).status_code == 302  # to the admin's login page


def _change_form(invoice, design) -> dict:
    """The invoice's admin page as sent with its one line, Design, and the note "Thanks"."""
    return {
        "tenant": invoice.tenant_id,
        "number": invoice.number,
        "client": invoice.client_id or "",
        "project": "",
        "issue_date": "2026-11-01",
        "due_date": "",
        "currency": invoice.currency,
        "status": invoice.status,
        "notes": "Thanks",
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "1",
        "lines-0-id": design.pk,
        "lines-0-invoice": invoice.pk,
        "lines-0-sort_order": "0",
        "lines-0-description": "Design",
        "lines-0-quantity": "12",
        "lines-0-unit_price": "95",
        "lines-0-vat_rate": "25",
    }


def test_a_change_saved_in_the_admin_queues_one_render_of_the_new_lines(invoice, admin_client):
    page_url = f"/admin/invoices/invoice/{invoice.pk}/change/"
    (design,) = invoice.lines.all()
    form = {
        **_change_form(invoice, design),
        "lines-TOTAL_FORMS": "2",
        "lines-1-invoice": invoice.pk,
        "lines-1-sort_order": "1",
        "lines-1-description": "Hosting",
        "lines-1-quantity": "1",
        "lines-1-unit_price": "30",
        "lines-1-vat_rate": "25",
    }
    response = admin_client.post(page_url, form)
    assert response.status_code == 302, response.content.decode()[:2000]

    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.PENDING
    (job,) = Job.objects.filter(type="invoice_pdf")
    job = _run(job)
    assert job.status == Job.Status.COMPLETED
    invoice.refresh_from_db()
    text = PdfReader(invoice.pdf_file.open("rb")).pages[0].extract_text()
    assert "Hosting" in text and "Thanks" in text


def test_a_draft_of_a_deactivated_workspace_is_saved_in_the_admin_and_says_why_it_has_no_pdf(
    invoice, admin_client
):
    Tenant.objects.filter(pk=invoice.tenant_id).update(is_active=False)
    (design,) = invoice.lines.all()
    response = admin_client.post(
        f"/admin/invoices/invoice/{invoice.pk}/change/", _change_form(invoice, design)
    )

    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.notes, invoice.pdf_status) == ("Thanks", Invoice.PdfStatus.FAILED)
    assert invoice.pdf_error.startswith("The workspace is deactivated")
    assert not Job.objects.filter(type="invoice_pdf").exists()


def test_a_render_that_finishes_after_its_invoice_was_deleted_leaves_no_file(invoice):
    from django.core.files.storage import default_storage
    from django.db import transaction

    from invoices.services import invoice_pdf_recording, invoice_pdf_saved, invoice_pdf_store
    from jobs.errors import PermanentError

    name, fingerprint, _ = invoice_pdf_store(invoice=invoice)
    assert default_storage.exists(name)
    Invoice.objects.filter(pk=invoice.pk).delete()
    with (
        pytest.raises(PermanentError, match="deleted"),
        invoice_pdf_recording(invoice, name),
        transaction.atomic(),
    ):
        invoice_pdf_saved(invoice_id=invoice.pk, name=name, fingerprint=fingerprint)
    assert not default_storage.exists(name)


def test_a_copy_loaded_before_a_render_or_a_send_deletes_what_is_there_now(
    invoice, django_capture_on_commit_callbacks
):
    from django.core.files.storage import default_storage

    from core.errors import Conflict
    from invoices.services import invoice_delete, invoice_pdf_saved, invoice_pdf_store

    first, fingerprint, _ = invoice_pdf_store(invoice=invoice)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_pdf_saved(invoice_id=invoice.pk, name=first, fingerprint=fingerprint)
    page_copy = Invoice.objects.get(pk=invoice.pk)  # an admin page, loaded now
    second, fingerprint, _ = invoice_pdf_store(invoice=invoice)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_pdf_saved(invoice_id=invoice.pk, name=second, fingerprint=fingerprint)

    Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.SENT)
    with pytest.raises(Conflict, match="sent"):
        invoice_delete(invoice=page_copy)
    assert Invoice.objects.filter(pk=invoice.pk).exists()

    Invoice.objects.filter(pk=invoice.pk).update(status=Invoice.Status.DRAFT)
    with django_capture_on_commit_callbacks(execute=True):
        invoice_delete(invoice=page_copy)
    assert not Invoice.objects.filter(pk=invoice.pk).exists()
    assert not default_storage.exists(first) and not default_storage.exists(second)


def _renders_of(tenant, count):
    renders = []
    for _ in range(count):
        invoice = InvoiceFactory(tenant=tenant)
        line(invoice, "Design", 1, 100, 25)
        renders.append(invoice_pdf_request(invoice=invoice))
    return renders


def _when_due(jobs):
    for job in jobs:
        job.refresh_from_db()
    return time_machine.travel(max(job.next_retry_at for job in jobs) + timedelta(seconds=1))


def test_a_workspace_renders_at_most_two_pdfs_at_once_and_others_render_meanwhile(
    tenant, other_tenant, api_client
):
    first, second, third = _renders_of(tenant, 3)
    (theirs,) = _renders_of(other_tenant, 1)
    assert {job.priority for job in [first, second, third, theirs]} == {"batch"}
    with _when_due([first, second, third, theirs]):
        assert [job_claim(job.pk).status for job in [first, second]] == ["processing"] * 2
        job_execute(job_id=str(third.pk))
        job_execute(job_id=str(theirs.pk))

    third.refresh_from_db()
    assert (third.status, third.attempts) == (Job.Status.PENDING, 0)
    events = api_client.get(f"/api/v1/jobs/{third.pk}/events").json()["results"]
    assert events[-1]["message"] == (
        "The workspace is at its cap of 2 invoice_pdf jobs running at once."
    )
    theirs.refresh_from_db()
    assert theirs.status == Job.Status.COMPLETED
    assert Invoice.objects.get(pdf_job=theirs).pdf_status == Invoice.PdfStatus.READY


def test_changes_while_a_render_waits_for_its_workspace_give_one_render(tenant):
    busy = _renders_of(tenant, 2)
    (waiting,) = _renders_of(tenant, 1)
    invoice = Invoice.objects.get(pdf_job=waiting)
    with _when_due([*busy, waiting]):
        for job in busy:
            job_claim(job.pk)
        job_execute(job_id=str(waiting.pk))
        for description in ["Second", "Third"]:
            invoice.lines.update(description=description)
            assert invoice_pdf_request(invoice=invoice).pk == waiting.pk

    assert Job.objects.filter(type="invoice_pdf", payload__invoice_id=invoice.pk).count() == 1
    Job.objects.filter(pk__in=[job.pk for job in busy]).update(status=Job.Status.COMPLETED)
    assert _run(waiting).status == Job.Status.COMPLETED
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.READY
    assert "Third" in PdfReader(io.BytesIO(invoice.pdf_file.read())).pages[0].extract_text()


CANCELED = (
    "CANCELED: The render was canceled before it finished; change the invoice or render its PDF"
    " again."
)


def test_a_render_canceled_before_it_starts_leaves_the_invoice_failed_until_it_changes(
    api_client, tenant_admin
):
    created = _invoice_over_the_api(api_client, "2026-0001")
    canceled = Job.objects.get(type="invoice_pdf")
    assert api_client.post(f"/api/v1/jobs/{canceled.pk}/cancel").status_code == 200

    detail = api_client.get(f"/api/v1/invoices/{created['id']}").json()
    assert (detail["pdf_status"], detail["pdf_error"]) == ("failed", CANCELED)
    assert not Notification.objects.filter(kind="invoice_pdf_failed").exists()

    changed = api_client.patch(
        f"/api/v1/invoices/{created['id']}", {"notes": "Thanks"}, format="json"
    )
    assert changed.json()["pdf_status"] == "pending"
    assert _run(Job.objects.get(status="pending")).status == Job.Status.COMPLETED
    detail = api_client.get(f"/api/v1/invoices/{created['id']}").json()
    assert (detail["pdf_status"], detail["pdf_error"]) == ("ready", "")


def test_a_render_canceled_while_it_runs_leaves_the_invoice_failed_and_the_command_renders_it(
    invoice, api_client, monkeypatch
):
    from django.core.management import call_command

    from invoices import rendering

    job = invoice_pdf_request(invoice=invoice)
    real_render = rendering.html_to_pdf

    def render_while_canceled(html):
        assert api_client.post(f"/api/v1/jobs/{job.pk}/cancel").status_code == 202
        return real_render(html)

    monkeypatch.setattr(rendering, "html_to_pdf", render_while_canceled)
    assert _run(job).status == Job.Status.CANCELED
    invoice.refresh_from_db()
    assert (invoice.pdf_status, invoice.pdf_error) == (Invoice.PdfStatus.FAILED, CANCELED)

    monkeypatch.setattr(rendering, "html_to_pdf", real_render)
    call_command("render_invoice_pdf", str(invoice.pk), stdout=io.StringIO())
    invoice.refresh_from_db()
    assert (invoice.pdf_status, invoice.pdf_error) == (Invoice.PdfStatus.READY, "")


def test_a_canceled_render_of_unchanged_content_leaves_the_pdf_ready(invoice):
    assert _run(invoice_pdf_request(invoice=invoice)).status == Job.Status.COMPLETED
    again = invoice_pdf_request(invoice=invoice)  # "Render the PDF again", nothing changed
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.PENDING

    job_cancel(job=again)
    invoice.refresh_from_db()
    assert (invoice.pdf_status, invoice.pdf_error) == (Invoice.PdfStatus.READY, "")
    assert "Design" in PdfReader(io.BytesIO(invoice.pdf_file.read())).pages[0].extract_text()


def test_a_canceled_render_requeued_by_an_operator_shows_pending_then_ready(api_client):
    created = _invoice_over_the_api(api_client, "2026-0002")
    render = Job.objects.get(type="invoice_pdf")
    job_cancel(job=render)
    assert api_client.get(f"/api/v1/invoices/{created['id']}").json()["pdf_status"] == "failed"

    job_requeue(job=Job.objects.get(pk=render.pk))
    detail = api_client.get(f"/api/v1/invoices/{created['id']}").json()
    assert (detail["pdf_status"], detail["pdf_error"]) == ("pending", "")
    job_execute(job_id=str(render.pk))
    assert Job.objects.get(pk=render.pk).status == Job.Status.COMPLETED
    assert api_client.get(f"/api/v1/invoices/{created['id']}").json()["pdf_status"] == "ready"


def test_a_change_that_leaves_the_pdf_as_it_was_renders_nothing(api_client, invoice):
    _run(invoice_pdf_request(invoice=invoice))
    url = f"/api/v1/invoices/{invoice.pk}"
    lines = api_client.get(url).json()["lines"]

    for unchanged in ({}, {"number": invoice.number}, {"lines": lines}):
        response = api_client.patch(url, unchanged, format="json")
        assert (response.status_code, response.json()["pdf_status"]) == (200, "ready")
    assert Job.objects.filter(type="invoice_pdf").count() == 1

    changed = api_client.patch(url, {"notes": "Paid by card."}, format="json")
    assert changed.json()["pdf_status"] == "pending"
    assert Job.objects.filter(type="invoice_pdf").count() == 2


def test_an_invoice_saved_unchanged_in_the_admin_is_not_rendered_again(admin_client, invoice):
    _run(invoice_pdf_request(invoice=invoice))
    row = invoice.lines.get()
    form = {
        "tenant": invoice.tenant_id,
        "number": invoice.number,
        "client": invoice.client_id,
        "currency": invoice.currency,
        "status": "draft",
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "1",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
        "lines-0-id": row.pk,
        "lines-0-invoice": invoice.pk,
        "lines-0-sort_order": "0",
        "lines-0-description": row.description,
        "lines-0-quantity": str(row.quantity),
        "lines-0-unit_price": str(row.unit_price),
        "lines-0-vat_rate": str(row.vat_rate),
    }
    url = f"/admin/invoices/invoice/{invoice.pk}/change/"

    assert admin_client.post(url, form).status_code == 302
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.READY
    assert Job.objects.filter(type="invoice_pdf").count() == 1

    assert admin_client.post(url, {**form, "lines-0-quantity": "3"}).status_code == 302
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.PENDING
    assert Job.objects.filter(type="invoice_pdf").count() == 2


def test_a_patch_renders_a_pdf_left_pending_with_no_render_coming(api_client, invoice):
    render = _run(invoice_pdf_request(invoice=invoice))
    # The re-render its last render asked for was never queued (a database blip at its commit).
    Invoice.objects.filter(pk=invoice.pk).update(pdf_status=Invoice.PdfStatus.PENDING)
    assert api_client.patch(f"/api/v1/invoices/{invoice.pk}", {}, format="json").status_code == 200
    assert Job.objects.filter(type="invoice_pdf").exclude(pk=render.pk).count() == 1


def test_a_patch_renders_a_failed_pdf_again_even_unchanged(api_client, invoice):
    job_cancel(job=invoice_pdf_request(invoice=invoice))
    url = f"/api/v1/invoices/{invoice.pk}"
    assert api_client.get(url).json()["pdf_status"] == "failed"
    assert api_client.patch(url, {}, format="json").json()["pdf_status"] == "pending"


def _pdf_text(invoice) -> str:
    invoice.refresh_from_db()
    return "\n".join(page.extract_text() for page in PdfReader(invoice.pdf_file.open("rb")).pages)


def _run_due_renders():
    for job in Job.objects.filter(type="invoice_pdf", status=Job.Status.PENDING):
        _run(job)


def _rendered_as(api_client, invoice, status: str) -> None:
    url = f"/api/v1/invoices/{invoice.pk}"
    assert api_client.patch(url, {"status": status}, format="json").status_code == 200
    _run_due_renders()


def test_drafts_show_their_client_and_seller_as_they_are_and_sent_invoices_as_they_were_sent(
    tenant, api_client, admin_client, django_capture_on_commit_callbacks
):
    client = ClientFactory(tenant=tenant, name="Old Client AS")
    draft, sent = (
        InvoiceFactory(tenant=tenant, client=client),
        InvoiceFactory(tenant=tenant, client=client),
    )
    for invoice in (draft, sent):
        line(invoice, "Design", 1, 100, 25)
        _run(invoice_pdf_request(invoice=invoice))
    _rendered_as(api_client, sent, "sent")

    with django_capture_on_commit_callbacks(execute=True):
        changed = api_client.patch(
            f"/api/v1/clients/{client.pk}", {"name": "New Client AS"}, format="json"
        )
        renamed = admin_client.post(
            f"/admin/accounts/tenant/{tenant.pk}/change/",
            {
                "name": "Renamed Seller AB",
                "slug": tenant.slug,
                "is_active": "on",
                "memberships-TOTAL_FORMS": "0",
                "memberships-INITIAL_FORMS": "0",
                "new-members-TOTAL_FORMS": "0",
                "new-members-INITIAL_FORMS": "0",
            },
        )
    assert changed.status_code == 200
    assert renamed.status_code == 302
    assert list(
        Job.objects.filter(status=Job.Status.PENDING).values_list("payload", flat=True)
    ) == [{"invoice_id": draft.pk}]
    _run_due_renders()
    assert "New Client AS" in _pdf_text(draft) and "Renamed Seller AB" in _pdf_text(draft)
    assert Invoice.objects.get(pk=draft.pk).pdf_status == Invoice.PdfStatus.READY

    # Paid, the sent invoice is rendered again, still with its client and seller as sent.
    _rendered_as(api_client, sent, "paid")
    text = _pdf_text(sent)
    assert "Paid" in text
    assert "Old Client AS" in text and "Alice's workspace" in text


def test_a_change_of_currency_renders_the_pdf_again_at_the_new_precision(api_client, invoice):
    _run(invoice_pdf_request(invoice=invoice))
    url = f"/api/v1/invoices/{invoice.pk}"
    changed = api_client.patch(url, {"currency": "JPY"}, format="json")
    assert changed.status_code == 200
    assert (changed.json()["pdf_status"], changed.json()["total"]) == ("pending", "1188")
    invoice.refresh_from_db()
    assert _run(invoice.pdf_job).status == Job.Status.COMPLETED
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.READY
    text = PdfReader(io.BytesIO(invoice.pdf_file.read())).pages[0].extract_text()
    # 10 × 95 with 25 % VAT: 237.50 of VAT is 238 yen.
    assert "VAT 25 % on 950 238 JPY" in text and "Total 1188 JPY" in text
