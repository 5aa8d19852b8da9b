from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.shortcuts import get_object_or_404
from django.template.defaultfilters import floatformat
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe

from accounts.admin import (
    AuditedAdmin,
    RelatedSearchedFirst,
    WorkspaceFilter,
    may_open,
    selection_too_big,
)
from accounts.models import AuditEvent
from accounts.services import audit_record, audit_values
from invoices.models import (
    INVOICE_LINES_MAX,
    Client,
    Invoice,
    InvoiceLine,
    invoice_number_was_taken,
    price_canonical,
)
from invoices.services import (
    invoice_delete,
    invoice_lines_audited,
    invoice_pdf_request,
    invoice_pdf_response,
)
from sharelinks.admin import SharedResourceAdmin


def _is_draft(invoice: Invoice | None) -> bool:
    """Only a draft's content is edited (as in the API); a new invoice starts as one."""
    return invoice is None or invoice.status == Invoice.Status.DRAFT


class UnitPriceFormField(forms.DecimalField):
    """Shows a stored price as the API gives it ("110.00", "1.25"), not with its column's four
    decimals."""

    def prepare_value(self, value):
        return price_canonical(value) if isinstance(value, Decimal) else value


class InvoiceLineInline(admin.TabularInline):
    model = InvoiceLine
    extra = 1
    max_num = INVOICE_LINES_MAX
    fields = ["sort_order", "description", "quantity", "unit_price", "vat_rate"]

    readonly_fields = ["unit_price_shown"]

    def get_fields(self, request, obj=None):
        # Lines shown read only (a sent invoice's, or to staff who may only view them) show their
        # price by this, not with the column's four decimals.
        if self.has_change_permission(request, obj) or self.has_add_permission(request, obj):
            return self.fields
        return [("unit_price_shown" if name == "unit_price" else name) for name in self.fields]

    @admin.display(description="Unit price")
    def unit_price_shown(self, line):
        return price_canonical(line.unit_price)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name == "unit_price":
            kwargs["form_class"] = UnitPriceFormField
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def has_add_permission(self, request, obj=None):
        return _is_draft(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return _is_draft(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return _is_draft(obj) and super().has_delete_permission(request, obj)


@admin.register(Client)
class ClientAdmin(AuditedAdmin):
    list_display = ["name", "email", "organisation_number", "vat_number", "tenant"]
    list_filter = [WorkspaceFilter]
    search_fields = ["name", "email", "organisation_number", "vat_number", "tenant__slug"]
    list_select_related = ["tenant"]
    raw_id_fields = ["tenant"]


@admin.register(Invoice)
class InvoiceAdmin(RelatedSearchedFirst, SharedResourceAdmin, AuditedAdmin):
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
    list_filter = ["status", "pdf_status", WorkspaceFilter]
    search_fields = ["number", "notes"]
    search_related = {"tenant": "slug", "client": "name"}
    search_help_text = "Words of a number or its notes; its client's name; a workspace's slug."
    list_select_related = ["tenant", "client"]
    raw_id_fields = ["tenant", "client", "project", "pdf_job"]
    # The PDF is the renderer's output: staff download it here, and never upload or clear it.
    exclude = ["pdf_file"]
    readonly_fields = [
        "amounts",
        "pdf",
        "renders",
        "pdf_status",
        "pdf_url",
        "pdf_error",
        "rendered_at",
        "content_hash",
        "rendered_hash",
        "pdf_job",
        "parties",
    ]
    inlines = [InvoiceLineInline]
    actions = ["render_pdf"]

    def get_readonly_fields(self, request, obj=None):
        readonly = self.readonly_fields
        # The renders link to the audit log, which only those who may view it open.
        if not may_open(request, self.admin_site, "accounts.auditevent"):
            readonly = [name for name in readonly if name != "renders"]
        if _is_draft(obj):
            return readonly
        # Sent, paid or void: only the status moves on (forward), as in the API.
        shown = {*self.readonly_fields, *self.exclude}
        if Invoice.NEXT_STATUSES[obj.status]:
            shown.add("status")
        frozen = [f.name for f in Invoice._meta.fields if f.editable and f.name not in shown]
        return [*readonly, *frozen]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        status = form.base_fields.get("status")
        if obj is not None and status is not None:
            allowed = {obj.status, *Invoice.NEXT_STATUSES[obj.status]}
            status.choices = [choice for choice in status.choices if choice[0] in allowed]
        return form

    @admin.display(description="Amounts")
    def amounts(self, invoice):
        """As the API and the PDF give them, rounded to the currency's decimals."""
        if invoice.pk is None:
            return "—"
        rows = [
            ("Subtotal", invoice.subtotal),
            *(
                (f"VAT {floatformat(row['rate'], -2)} % on {row['base']}", row["vat"])
                for row in invoice.vat_by_rate
            ),
            ("Total", invoice.total),
        ]
        return format_html_join(
            mark_safe("<br>"),
            "{}: {} {}",
            ((label, amount, invoice.currency) for label, amount in rows),
        )

    def has_delete_permission(self, request, obj=None):
        # A sent or paid invoice's page offers no deletion: void it instead.
        return _is_draft(obj) and super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Among "Delete selected", shown as what protects them: the page refuses the deletion. A
        # workspace deleted whole takes its sent invoices with it all the same.
        refused = [
            f"{invoice}: {invoice.deletion_refused}" for invoice in objs if invoice.deletion_refused
        ]
        return deleted, counts, perms_needed, [*protected, *refused]

    def delete_model(self, request, obj):
        invoice_delete(invoice=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for invoice in queryset:
            invoice_delete(invoice=invoice, actor=request.user)

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
        if not default_storage.exists(invoice.pdf_file.name):
            return format_html(
                "{} is missing from the storage: render the PDF again", invoice.pdf_file.name
            )
        url = reverse("admin:invoices_invoice_pdf", args=[invoice.pk])
        return format_html('<a href="{}">{}</a>', url, invoice.pdf_file.name)

    @admin.display(description="PDF renders")
    def renders(self, invoice):
        return format_html(
            '<a href="{}?resource_type=invoices.invoice&amp;resource_id={}&amp;action=export">'
            "renders stored</a>",
            reverse("admin:accounts_auditevent_changelist"),
            invoice.pk,
        )

    def pdf_view(self, request, object_id):
        invoice = get_object_or_404(Invoice, pk=object_id)
        if not self.has_view_permission(request, invoice):
            raise PermissionDenied
        return invoice_pdf_response(invoice)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except IntegrityError as error:
            if not invoice_number_was_taken(error):
                raise
            # Nothing of the save was kept (the view is one transaction). Checked again, the form
            # now sees the number taken: it comes back with what staff typed and that error.
            return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        else:
            # A new invoice is audited once, with its lines, when they are saved (save_related).
            obj.save()

    def save_related(self, request, form, formsets, change):
        invoice = form.instance
        before = invoice_lines_audited(invoice) if change else []
        super().save_related(request, form, formsets, change)
        with transaction.atomic():
            # Lines changed here are in the workspace's audit log, as through the API.
            after = invoice_lines_audited(invoice)
            if not change:
                fields = audit_values(Invoice.objects.get(pk=invoice.pk), set(form.fields))
                self._audit(
                    request, invoice, AuditEvent.Action.CREATE, new={**fields, "lines": after}
                )
            elif after != before:
                self._audit(
                    request,
                    invoice,
                    AuditEvent.Action.UPDATE,
                    old={"lines": before},
                    new={"lines": after},
                )
            # After the lines are saved too: the render must see the invoice as the admin left it.
            # Saved unchanged, it is not rendered again ("Render the PDF again" does that).
            invoice_pdf_request(invoice=invoice, if_changed=True)

    @staticmethod
    def _audit(request, invoice, action: str, **values) -> None:
        audit_record(
            tenant=invoice.tenant, resource=invoice, action=action, actor=request.user, **values
        )

    @admin.action(description="Render the PDF again", permissions=["change"])
    def render_pdf(self, request, queryset):
        if selection_too_big(request, queryset, command="manage.py render_invoice_pdf <id>…"):
            return
        asked = 0
        for invoice in queryset:
            invoice_pdf_request(invoice=invoice)
            asked += 1
        messages.success(
            request,
            f"Asked for a fresh PDF of {asked} invoice(s): one whose render is already waiting "
            "gets no second one, and one being rendered now is rendered again after it.",
        )
