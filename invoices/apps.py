from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    name = "invoices"

    def ready(self):
        from core.files import files_deleted_with_rows
        from invoices import signals  # noqa: F401
        from invoices.models import Invoice
        from invoices.services import INVOICE_PDF
        from jobs.registry import job_type_register

        job_type_register(INVOICE_PDF)
        files_deleted_with_rows(Invoice, "pdf_file")
