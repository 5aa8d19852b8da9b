from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html

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
    # The PDF is the renderer's output: staff download it here, and never upload or clear it.
    exclude = ["pdf_file"]
    readonly_fields = [
        "pdf",
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

    def get_urls(self):
        download = path(
            "<int:object_id>/pdf/",
            self.admin_site.admin_view(self.pdf_view),
            name="invoices_invoice_pdf",
        )
        return [download, *super().get_urls()]

    @admin.display(description="PDF")
    def pdf(self, invoice):
        if not invoice.pdf_file:
            return "—"
        url = reverse("admin:invoices_invoice_pdf", args=[invoice.pk])
        return format_html('<a href="{}">{}</a>', url, invoice.pdf_file.name)

    def pdf_view(self, request, object_id):
        invoice = get_object_or_404(Invoice, pk=object_id)
        if not self.has_view_permission(request, invoice):
            raise PermissionDenied
        if not invoice.pdf_file:
            raise Http404("This invoice has no PDF yet.")
        return FileResponse(
            invoice.pdf_file.open("rb"),
            content_type="application/pdf",
            filename=f"invoice-{invoice.number}.pdf",
        )

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
