from django.contrib import admin, messages
from django.db import transaction

from invoices.models import Client, Invoice, InvoiceLine
from invoices.services import invoice_pdf_request


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 1
    fields = ["sort_order", "description", "quantity", "unit_price", "vat_rate"]


@admin.register(Client)
class ClientAdmin(admin.ModelAdmin):
    list_display = ["name", "email", "organisation_number", "vat_number", "tenant"]
    list_filter = ["tenant"]
    search_fields = ["name", "email", "organisation_number", "vat_number"]
    list_select_related = ["tenant"]
    raw_id_fields = ["tenant"]


@admin.register(Invoice)
class InvoiceAdmin(admin.ModelAdmin):
    list_display = [
        "number",
        "tenant",
        "client",
        "status",
        "issue_date",
        "due_date",
        "pdf_status",
        "rendered_at",
    ]
    list_filter = ["status", "pdf_status", "tenant"]
    search_fields = ["number", "client__name", "notes"]
    list_select_related = ["tenant", "client"]
    raw_id_fields = ["tenant", "client", "project", "pdf_job"]
    readonly_fields = [
        "pdf_status",
        "pdf_url",
        "pdf_error",
        "rendered_at",
        "content_hash",
        "rendered_hash",
        "pdf_job",
    ]
    inlines = [InvoiceLineInline]
    actions = ["render_pdf"]

    def save_related(self, request, form, formsets, change):
        # After the lines are saved too: the render must see the invoice as the admin left it.
        super().save_related(request, form, formsets, change)
        with transaction.atomic():
            invoice_pdf_request(invoice=form.instance)

    @admin.action(description="Render the PDF again")
    def render_pdf(self, request, queryset):
        for invoice in queryset:
            invoice_pdf_request(invoice=invoice)
        messages.success(request, f"Queued {queryset.count()} PDF render(s).")
