from django.apps import AppConfig


class InvoicesConfig(AppConfig):
    name = "invoices"

    def ready(self):
        from invoices import signals  # noqa: F401
        from invoices.services import INVOICE_PDF
        from jobs.registry import job_type_register

        job_type_register(INVOICE_PDF)
