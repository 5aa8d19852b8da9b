import contextlib
import errno
import logging
import time

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import DatabaseError, transaction
from django.http import FileResponse, Http404
from django.utils import timezone
from rest_framework import serializers

from accounts.models import AuditEvent, Notification
from accounts.services import (
    audit_record,
    audit_values,
    notification_resolve,
    notifications_resolve,
    notify_admins,
)
from core.deletion import deletion_by
from core.errors import Conflict
from core.metrics import PDF_RENDER, metric_observe
from core.validation import KnownFieldsOnly
from invoices.models import Invoice, InvoiceLine, price_canonical
from jobs.errors import PermanentError, RetryableError
from jobs.models import Job, Priority
from jobs.registry import JobType
from jobs.services import job_cancel, job_submit

logger = logging.getLogger(__name__)
# A PDF's file name holds the invoice number, whose slashes would make it a path.
SLASHES_AS_DASHES = str.maketrans("/\\", "--")

JOB_TYPE = "invoice_pdf"
STORAGE_FULL = {errno.ENOSPC, errno.EDQUOT}
STORAGE_FULL_ALERT_KEY = "storage-full"
PDF_RENDER_CANCELED = (
    "The render was canceled before it finished; change the invoice or render its PDF again."
)

PDF_RENDER_WORKSPACE_INACTIVE = (
    "The workspace is deactivated: its jobs do not run. Once it is active again, change the "
    "invoice or render its PDF again."
)


def invoice_pdf_request(*, invoice: Invoice, if_changed: bool = False) -> Job | None:
    """Queue one render of the invoice's current content, after the caller's transaction commits.
    While a render is already waiting to start, nothing more is queued: it will render the latest
    content. A render that is under way when the content changes is followed by a fresh one (the
    handler compares the content hash when it finishes). With `if_changed`, nothing is queued
    when the stored PDF shows this content, or a render of it is on its way."""
    with transaction.atomic():
        locked = (
            Invoice.objects.select_for_update(of=("self",))
            .select_related("pdf_job", "tenant")
            .get(pk=invoice.pk)
        )
        fingerprint = locked.content_fingerprint()
        waiting = locked.pdf_job is not None and locked.pdf_job.status == Job.Status.PENDING
        busy = waiting or (
            locked.pdf_job is not None and locked.pdf_job.status == Job.Status.PROCESSING
        )
        shown = locked.pdf_status == Invoice.PdfStatus.READY and locked.rendered_hash == fingerprint
        if if_changed and (shown or (busy and fingerprint == locked.content_hash)):
            return None
        fields = {"content_hash": fingerprint}
        if busy:
            Invoice.objects.filter(pk=invoice.pk).update(
                pdf_status=_status_while_busy(locked), **fields
            )
            return locked.pdf_job if waiting else None
        if not locked.tenant.is_active:
            # Staff may still edit its drafts: saved, with no render, as job_submit refuses one.
            if not shown:
                Invoice.objects.filter(pk=invoice.pk).update(
                    pdf_status=Invoice.PdfStatus.FAILED,
                    pdf_error=PDF_RENDER_WORKSPACE_INACTIVE,
                    **fields,
                )
            return None
        job = job_submit(
            tenant=locked.tenant,
            type=JOB_TYPE,
            payload={"invoice_id": locked.pk},
            delay_seconds=settings.INVOICE_PDF_DEBOUNCE_SECONDS,
        )
        Invoice.objects.filter(pk=invoice.pk).update(
            pdf_job=job, pdf_status=Invoice.PdfStatus.PENDING, **fields
        )
        return job


def invoice_pdfs_refresh(*, invoices) -> int:
    """Queue a render of each draft among `invoices` whose PDF no longer shows its content (its
    client or the workspace's name changed); issued invoices keep theirs. Returns how many."""
    drafts = invoices.filter(status=Invoice.Status.DRAFT).exclude(pdf_status=Invoice.PdfStatus.NONE)
    queued = 0
    for invoice in drafts.select_related("tenant", "client").prefetch_related("lines"):
        if invoice.content_fingerprint() != invoice.content_hash:
            invoice_pdf_request(invoice=invoice)
            queued += 1
    return queued


def _status_while_busy(invoice: Invoice) -> str:
    return (
        Invoice.PdfStatus.PENDING
        if invoice.pdf_status != Invoice.PdfStatus.RENDERING
        else invoice.pdf_status
    )


def invoice_pdf_store(*, invoice: Invoice) -> tuple[str, str, int]:
    """Render the invoice (outside any transaction: it can take seconds) and store the PDF at
    invoices/<tenant>/<invoice>.pdf, or beside the PDF stored there until the new one is recorded
    (`invoice_pdf_saved`): a save that fails leaves the stored PDF in place. Returns the stored
    name, the content hash it shows, and its page count. A full disk or storage quota alerts the
    workspace's admins at once (once while the alert is open); a PDF stored closes the alert."""
    # Here, where a PDF is rendered, and not at the top: WeasyPrint takes a second or more to
    # import, which every command and web process would pay. A worker imports it once as it
    # starts (invoices.signals), before its pool processes are forked from it.
    from invoices import rendering

    fingerprint = invoice.content_fingerprint()
    started = time.monotonic()
    rendered = rendering.html_to_pdf(rendering.invoice_html(invoice))
    metric_observe(PDF_RENDER, time.monotonic() - started)
    try:
        name = default_storage.save(invoice.storage_path, ContentFile(rendered.content))
    except OSError as exc:
        if exc.errno in STORAGE_FULL:
            notify_admins(
                tenant=invoice.tenant,
                kind=Notification.Kind.STORAGE_FULL,
                title="Invoice PDFs cannot be stored: the storage is full",
                payload={"invoice": invoice.number, "error": str(exc)},
                alert_key=STORAGE_FULL_ALERT_KEY,
            )
            raise RetryableError("STORAGE_FULL", f"The storage is full: {exc}") from exc
        raise
    return name, fingerprint, rendered.pages


def invoice_pdf_response(invoice: Invoice) -> FileResponse:
    """The stored PDF as a download. FileResponse quotes or percent-encodes the file name
    (RFC 6266), whatever the invoice number holds. Http404 when the invoice has no PDF yet, or
    its file is gone from the storage (a lost volume: logged)."""
    if not invoice.pdf_file:
        raise Http404("This invoice has no PDF yet; its pdf_status says where it stands.")
    try:
        stored = invoice.pdf_file.open("rb")
    except FileNotFoundError as exc:
        logger.error(
            "Invoice %s: its PDF %s is not in the storage: %s", invoice.pk, invoice.pdf_file, exc
        )
        # Rendered again from what the invoice holds, which is what the lost PDF showed.
        invoice_pdf_request(invoice=invoice)
        raise Http404(
            "The PDF is missing from the storage; it is being rendered again: follow pdf_status."
        ) from exc
    return FileResponse(
        stored,
        content_type="application/pdf",
        # FileResponse keeps only what follows a number's last slash (INV/2026/0042 → 0042.pdf).
        filename=f"invoice-{invoice.number.translate(SLASHES_AS_DASHES)}.pdf",
    )


def invoice_pdf_url(invoice: Invoice) -> str:
    """The filesystem storage serves PDFs through the authenticated API; a bucket, presigned."""
    if hasattr(default_storage, "bucket_name"):
        return default_storage.url(invoice.pdf_file.name)
    return invoice.download_url()


@contextlib.contextmanager
def invoice_pdf_recording(invoice: Invoice, name: str):
    """Around what follows the store of a new PDF as `name` up to the transaction that records it:
    when it fails (the invoice deleted meanwhile, the job canceled, the database gone), the new
    file is deleted and the invoice keeps the PDF it had."""
    try:
        yield
    except BaseException:
        if name != invoice.pdf_file.name:
            default_storage.delete(name)
        raise


def invoice_pdf_saved(*, invoice_id: int, name: str, fingerprint: str, actor=None) -> Invoice:
    """Record a stored render and close the invoice's failed-render alert and the storage-full
    alert. Runs in the caller's transaction; the row lock orders it with any concurrent change, so
    a render of stale content is always noticed. It locks the invoice alone: a workspace renamed
    meanwhile waits for nothing here."""
    invoice = Invoice.objects.select_for_update(of=("self",)).select_related("tenant")
    invoice = invoice.filter(pk=invoice_id)
    invoice = invoice.first()
    if invoice is None:
        raise PermanentError("NOT_FOUND", "The invoice was deleted while its PDF was rendered.")
    stale = invoice.content_fingerprint() != fingerprint
    replaced = invoice.pdf_file.name
    if replaced and replaced != name:
        transaction.on_commit(lambda: default_storage.delete(replaced))
    invoice.pdf_file.name = name
    invoice.pdf_url = invoice_pdf_url(invoice)
    invoice.pdf_status = Invoice.PdfStatus.PENDING if stale else Invoice.PdfStatus.READY
    invoice.pdf_error = ""
    invoice.rendered_at = timezone.now()
    invoice.rendered_hash = fingerprint
    invoice.save(
        update_fields=[
            "pdf_file",
            "pdf_url",
            "pdf_status",
            "pdf_error",
            "rendered_at",
            "rendered_hash",
        ]
    )
    audit_record(
        tenant=invoice.tenant,
        resource=invoice,
        action=AuditEvent.Action.EXPORT,
        actor=actor,
        new={"pdf": name, "content_hash": fingerprint},
    )
    notification_resolve(tenant=invoice.tenant, alert_key=_failed_alert_key(invoice))
    # Every workspace stores into the same storage: it has room again for all of them.
    notifications_resolve(alert_keys=[STORAGE_FULL_ALERT_KEY])
    invoice.stale = stale
    return invoice


AUDITED_LINE_FIELDS = {"sort_order", "description", "quantity", "unit_price", "vat_rate"}


def invoice_lines_audited(invoice: Invoice) -> list[dict]:
    """The invoice's lines in order, as its audit events keep them (read afresh: the lines are
    replaced, not changed, and a prefetched list would still show the old ones)."""
    if invoice.pk is None:
        return []
    lines = InvoiceLine.objects.filter(invoice_id=invoice.pk).order_by("sort_order", "pk")
    # Prices as the API gives them ("110.00"), not with their column's four decimals.
    return [
        {
            **audit_values(line, AUDITED_LINE_FIELDS),
            "unit_price": str(price_canonical(line.unit_price)),
        }
        for line in lines
    ]


def invoice_delete(*, invoice: Invoice, actor=None) -> None:
    """Delete a draft invoice, its stored PDF (after the commit) and any render still to come. A
    sent or paid invoice stays on record: void it instead."""
    with transaction.atomic():
        # Read afresh under a lock: the caller's copy (an admin page's) may predate a send, or a
        # render that stored a new PDF.
        invoice = Invoice.objects.select_for_update(of=("self",)).filter(pk=invoice.pk).first()
        if invoice is None:
            return
        if invoice.deletion_refused:
            raise Conflict(invoice.deletion_refused)
        render = invoice.pdf_job
        audit_record(
            tenant=invoice.tenant,
            resource=invoice,
            action=AuditEvent.Action.DELETE,
            actor=actor,
            old={"number": invoice.number, "status": invoice.status},
        )
        # Its failed render's alert has nothing left to fix.
        notification_resolve(tenant=invoice.tenant, alert_key=_failed_alert_key(invoice))
        with deletion_by(actor):
            invoice.delete()
        if render is not None and not render.is_finished:
            job_cancel(job=render, actor=actor)


class InvoicePdfPayload(KnownFieldsOnly, serializers.Serializer):
    invoice_id = serializers.IntegerField(min_value=1)


def invoice_pdf_handle(ctx) -> dict:
    invoice = (
        Invoice.objects.select_related("tenant", "client")
        .prefetch_related("lines")
        .filter(pk=ctx.payload["invoice_id"], tenant=ctx.tenant)
        .first()
    )
    if invoice is None:
        raise PermanentError("NOT_FOUND", "The invoice no longer exists.")
    Invoice.objects.filter(pk=invoice.pk).update(pdf_status=Invoice.PdfStatus.RENDERING)
    try:
        ctx.progress(10, "rendering")
        name, fingerprint, pages = invoice_pdf_store(invoice=invoice)
        with invoice_pdf_recording(invoice, name):
            ctx.progress(90, "stored")
            with transaction.atomic():
                saved = invoice_pdf_saved(invoice_id=invoice.pk, name=name, fingerprint=fingerprint)
                result = ctx.complete({"invoiceId": invoice.pk, "pdf": name, "pages": pages})
                if saved.stale:
                    transaction.on_commit(lambda: invoice_pdf_request(invoice=saved))
    except BaseException:
        # The attempt is over: until the next, or until the job gives up, the invoice's PDF is on
        # its way. Best effort: a time limit that stopped a query may have left the connection
        # unusable, and the attempt's own error is the one to report.
        with contextlib.suppress(DatabaseError):
            Invoice.objects.filter(
                pk=invoice.pk, pdf_job=ctx.job, pdf_status=Invoice.PdfStatus.RENDERING
            ).update(pdf_status=Invoice.PdfStatus.PENDING)
        raise
    return result


def invoice_pdf_given_up(job: Job) -> None:
    """The render ended without a PDF. Failed for good (the dead letter): say so on the invoice
    and to its admins. Canceled: say so on the invoice, which waits for no render any more; a
    change or a new render request queues another. Only while the job is still the invoice's
    render: a newer one speaks for itself."""
    invoice = Invoice.objects.filter(pk=job.payload.get("invoice_id"), tenant=job.tenant).first()
    if invoice is None:
        return
    if job.status == Job.Status.CANCELED:
        _pdf_render_canceled(invoice, job)
    elif job.status == Job.Status.FAILED:
        Invoice.objects.filter(pk=invoice.pk, pdf_job=job).update(
            pdf_status=Invoice.PdfStatus.FAILED, pdf_error=f"{job.error_code}: {job.error_message}"
        )
        notify_admins(
            tenant=invoice.tenant,
            kind=Notification.Kind.INVOICE_PDF_FAILED,
            title=f"The PDF of invoice {invoice.number} could not be rendered",
            payload={"invoice": invoice.number, "error": f"{job.error_code}: {job.error_message}"},
            alert_key=_failed_alert_key(invoice),
        )


def _pdf_render_canceled(invoice: Invoice, job: Job) -> None:
    """A canceled render is no failure to alert anyone about, but the invoice must stop saying a
    PDF is on its way: ready if the stored PDF already shows the current content (a render asked
    again without a change), failed with the reason otherwise."""
    if invoice.pdf_file and invoice.rendered_hash == invoice.content_fingerprint():
        status, error = Invoice.PdfStatus.READY, ""
    else:
        status, error = Invoice.PdfStatus.FAILED, f"{job.error_code}: {PDF_RENDER_CANCELED}"
    Invoice.objects.filter(pk=invoice.pk, pdf_job=job).update(pdf_status=status, pdf_error=error)


def invoice_pdf_requeued(job: Job) -> None:
    """An operator sent a failed or canceled render back to the queue: while it is still the
    invoice's render, the invoice says a PDF is on its way again."""
    Invoice.objects.filter(pk=job.payload.get("invoice_id"), tenant=job.tenant, pdf_job=job).update(
        pdf_status=Invoice.PdfStatus.PENDING, pdf_error=""
    )


def _failed_alert_key(invoice: Invoice) -> str:
    return f"invoice-pdf:{invoice.pk}"


INVOICE_PDF = JobType(
    name=JOB_TYPE,
    handler=invoice_pdf_handle,
    payload_serializer=InvoicePdfPayload,
    # Renders follow invoice changes in the background: they queue behind the work clients wait
    # for, and one workspace's burst of changes never takes more than 2 workers at once.
    default_priority=Priority.BATCH,
    max_concurrency_per_tenant=2,
    max_attempts=4,
    retry_delays=(60, 300, 900),
    time_limit=600,
    on_give_up=invoice_pdf_given_up,
    on_requeue=invoice_pdf_requeued,
    public=False,
)
