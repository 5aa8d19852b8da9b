from django.core.management.base import CommandError
from django.db import transaction

from accounts.services import operator_at_command_line
from core.management.base import OperatorCommand
from invoices.models import Invoice
from invoices.services import invoice_pdf_recording, invoice_pdf_saved, invoice_pdf_store
from jobs.errors import RetryableError


class Command(OperatorCommand):
    help = "Render an invoice's PDF now, in this process (no job, no worker), and store it."

    def add_arguments(self, parser):
        parser.add_argument("invoice_id", type=int)

    def handle(self, *args, invoice_id, **options):
        invoice = Invoice.objects.select_related("tenant", "client").filter(pk=invoice_id).first()
        if invoice is None:
            raise CommandError(f"No invoice with id {invoice_id}.")
        try:
            name, fingerprint, pages = invoice_pdf_store(invoice=invoice)
        except (OSError, RetryableError) as exc:
            raise CommandError(
                f"The PDF could not be stored ({exc}); the invoice is unchanged."
            ) from exc
        with invoice_pdf_recording(invoice, name), transaction.atomic():
            invoice_pdf_saved(
                invoice_id=invoice.pk,
                name=name,
                fingerprint=fingerprint,
                actor=operator_at_command_line(),
            )
        self.stdout.write(f"Rendered invoice {invoice.number} (pages: {pages}), stored as {name}.")
