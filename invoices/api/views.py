from operator import attrgetter

from django.db import connection, transaction
from django.http import Http404
from django.http.request import MediaType
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation

from accounts.api.auditing import AuditedMixin
from accounts.api.scoping import TenantScopedMixin
from budgets.api.views import TenantCreateMixin
from budgets.models import Project
from core.errors import RELATED_RECORD_CHANGED, Conflict, NotFound
from core.etags import ConditionalRetrieveMixin
from core.idempotency import idempotent
from core.locations import created_headers
from core.validation import ListFiltersMixin, list_query
from invoices.api.serializers import (
    ClientListQuerySerializer,
    ClientSerializer,
    InvoiceListQuerySerializer,
    InvoiceSerializer,
)
from invoices.models import Client, Invoice
from invoices.services import (
    invoice_delete,
    invoice_lines_audited,
    invoice_pdf_request,
    invoice_pdf_response,
)


def _foreign_keys_checked_now() -> None:
    """Check the transaction's foreign keys as each row is written, not at commit: a client or
    project deleted since validation fails the write at once (409), before the render reads it,
    and one that exists is kept from deletion until the commit."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def _related_rows_still_there(invoice: Invoice) -> None:
    """SQLite checks foreign keys only at commit, and SET CONSTRAINTS does not exist there: after
    the write, which gave this transaction the database's write lock, no other can delete the
    client or project, so their presence now is sure."""
    if connection.vendor == "postgresql":
        return
    for model, pk in ((Client, invoice.client_id), (Project, invoice.project_id)):
        if pk is not None and not model.objects.filter(pk=pk).exists():
            raise Conflict(RELATED_RECORD_CHANGED)


def _accepted_quality(accept: str, media_type: str) -> float:
    """The quality an Accept header gives `media_type` (RFC 9110, 12.5.1): that of the most
    specific range matching it, so `application/pdf;q=0` refuses it even beside `*/*`; 0 when no
    range matches it."""
    offered = MediaType(media_type)
    ranges = [MediaType(token) for token in accept.split(",") if token.strip()]
    matching = [media_range for media_range in ranges if offered.match(media_range)]
    most_specific = max(matching, key=attrgetter("specificity", "quality"), default=None)
    return most_specific.quality if most_specific else 0


class PdfDownloadNegotiation(DefaultContentNegotiation):
    """The download answers in PDF only: a client whose Accept allows it (none, `*/*`,
    `application/*`, `application/pdf`) gets it, and one that refuses it (`application/json`
    alone, `application/pdf;q=0`) the 406 of any endpoint asked for what it cannot answer. The PDF
    is a FileResponse that no renderer touches: the renderer chosen here renders only the
    refusals (no PDF yet, not found), in JSON."""

    def select_renderer(self, request, renderers, format_suffix=None):
        if _accepted_quality(request.META.get("HTTP_ACCEPT", "*/*"), "application/pdf") == 0:
            raise NotAcceptable(available_renderers=renderers)
        return renderers[0], renderers[0].media_type


@extend_schema_view(list=extend_schema(parameters=[ClientListQuerySerializer]))
class ClientViewSet(
    ListFiltersMixin, TenantScopedMixin, AuditedMixin, TenantCreateMixin, viewsets.ModelViewSet
):
    queryset = Client.objects.order_by("name", "id")
    serializer_class = ClientSerializer
    query_serializer_class = ClientListQuerySerializer

    def filter_list(self, clients):
        return clients.filter(**list_query(self))


class InvoiceViewSet(
    ConditionalRetrieveMixin,
    ListFiltersMixin,
    TenantScopedMixin,
    AuditedMixin,
    viewsets.ModelViewSet,
):
    """Invoices with their lines. Creating or changing one queues its PDF; poll `pdf_status`.
    Only drafts can be deleted; a sent or paid invoice is voided instead."""

    queryset = Invoice.objects.select_related("client", "tenant").prefetch_related("lines")
    serializer_class = InvoiceSerializer
    query_serializer_class = InvoiceListQuerySerializer

    def etag_data(self, data):
        # In a bucket the PDF's address is presigned afresh on every read: its signature and date
        # would change the tag of an unchanged invoice every second.
        if data["pdf_url"]:
            return {**data, "pdf_url": data["pdf_url"].partition("?")[0]}
        return data

    def filter_list(self, invoices):
        return invoices.filter(**list_query(self))

    @extend_schema(parameters=[InvoiceListQuerySerializer])
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @idempotent
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    def get_success_headers(self, data):
        return created_headers(self, data["id"])

    def perform_create(self, serializer):
        with transaction.atomic():
            _foreign_keys_checked_now()
            super().perform_create(serializer)
            _related_rows_still_there(serializer.instance)
            self._render(serializer.instance)

    def perform_update(self, serializer):
        with transaction.atomic():
            _foreign_keys_checked_now()
            super().perform_update(serializer)
            _related_rows_still_there(serializer.instance)
            # A change that leaves what the PDF shows as it was (or no change) renders nothing.
            self._render(serializer.instance, if_changed=True)

    def perform_destroy(self, invoice):
        invoice_delete(invoice=invoice, actor=self.request.user.actor)

    def _values(self, invoice) -> dict:
        return {**super()._values(invoice), "lines": invoice_lines_audited(invoice)}

    def _render(self, invoice, *, if_changed: bool = False):
        invoice_pdf_request(invoice=invoice, if_changed=if_changed)
        invoice.refresh_from_db(fields=["pdf_status", "content_hash", "pdf_job"])

    @extend_schema(responses={(200, "application/pdf"): OpenApiTypes.BINARY})
    @action(
        detail=True,
        methods=["get"],
        url_path="pdf",
        content_negotiation_class=PdfDownloadNegotiation,
    )
    def pdf(self, request, pk=None):
        invoice = self.get_object()
        try:
            return invoice_pdf_response(invoice)
        except Http404 as exc:
            raise NotFound(str(exc)) from exc
