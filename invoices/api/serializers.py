from decimal import Decimal

from django.db import transaction
from rest_framework import serializers

from budgets.models import Project
from core.errors import Conflict
from invoices.models import Client, Invoice, InvoiceLine
from invoices.services import invoice_pdf_url


class TenantScopedRelatedField(serializers.PrimaryKeyRelatedField):
    """An object of the caller's workspace; another workspace's id is simply not found."""

    def __init__(self, model, **kwargs):
        self.model = model
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.model.objects.filter(tenant=self.context["request"].user.tenant)


class ClientSerializer(serializers.ModelSerializer):
    class Meta:
        model = Client
        fields = [
            "id",
            "name",
            "email",
            "address",
            "organisation_number",
            "vat_number",
            "created_at",
        ]
        read_only_fields = ["created_at"]


class InvoiceLineSerializer(serializers.ModelSerializer):
    quantity = serializers.DecimalField(max_digits=12, decimal_places=3, min_value=Decimal("0"))
    unit_price = serializers.DecimalField(max_digits=14, decimal_places=2)
    vat_rate = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0"),
        max_value=Decimal("100"),
        required=False,
    )
    amount = serializers.DecimalField(source="net", max_digits=16, decimal_places=2, read_only=True)

    class Meta:
        model = InvoiceLine
        fields = ["description", "quantity", "unit_price", "vat_rate", "sort_order", "amount"]
        extra_kwargs = {"sort_order": {"required": False}}


class VatRowSerializer(serializers.Serializer):
    rate = serializers.DecimalField(max_digits=5, decimal_places=2)
    base = serializers.DecimalField(max_digits=16, decimal_places=2)
    vat = serializers.DecimalField(max_digits=16, decimal_places=2)


def _line_values(lines) -> list[tuple]:
    """What each line says, from validated data or from rows."""
    fields = ("description", "quantity", "unit_price", "vat_rate")
    return [
        tuple(line.get(f) if isinstance(line, dict) else getattr(line, f) for f in fields)
        for line in lines
    ]


class InvoiceSerializer(serializers.ModelSerializer):
    client = TenantScopedRelatedField(Client, allow_null=True, required=False)
    project = TenantScopedRelatedField(Project, allow_null=True, required=False)
    lines = InvoiceLineSerializer(many=True, required=False)
    currency = serializers.RegexField(
        r"^[A-Z]{3}$", required=False, help_text="ISO 4217, e.g. EUR."
    )
    subtotal = serializers.DecimalField(max_digits=16, decimal_places=2, read_only=True)
    vat = VatRowSerializer(source="vat_by_rate", many=True, read_only=True)
    total = serializers.DecimalField(max_digits=16, decimal_places=2, read_only=True)
    pdf_url = serializers.SerializerMethodField()

    class Meta:
        model = Invoice
        fields = [
            "id",
            "number",
            "client",
            "project",
            "issue_date",
            "due_date",
            "currency",
            "status",
            "notes",
            "lines",
            "subtotal",
            "vat",
            "total",
            "pdf_status",
            "pdf_url",
            "pdf_error",
            "rendered_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["pdf_status", "pdf_error", "rendered_at", "created_at", "updated_at"]
        validators = []

    def get_pdf_url(self, invoice) -> str | None:
        return invoice_pdf_url(invoice) if invoice.pdf_file else None

    def validate_number(self, number):
        taken = Invoice.objects.filter(tenant=self.context["request"].user.tenant, number=number)
        if self.instance is not None:
            taken = taken.exclude(pk=self.instance.pk)
        if taken.exists():
            raise serializers.ValidationError("Another invoice of this workspace has this number.")
        return number

    def validate(self, attrs):
        if self.instance is not None:
            self._check_change_allowed(self.instance, attrs)
        issue = attrs.get("issue_date", getattr(self.instance, "issue_date", None))
        due = attrs.get("due_date", getattr(self.instance, "due_date", None))
        if issue and due and due < issue:
            raise serializers.ValidationError(
                {"due_date": ["The due date is before the issue date."]}
            )
        return attrs

    @staticmethod
    def _check_change_allowed(invoice: Invoice, attrs: dict) -> None:
        """Only a draft is edited; after that only its status moves, and only forward."""
        status = attrs.get("status", invoice.status)
        if status != invoice.status and status not in Invoice.NEXT_STATUSES[invoice.status]:
            raise Conflict(f"A {invoice.status} invoice cannot become {status}.")
        if invoice.status == Invoice.Status.DRAFT:
            return
        changed = sorted(
            name
            for name, value in attrs.items()
            if name not in ("status", "lines") and getattr(invoice, name) != value
        )
        if "lines" in attrs and _line_values(attrs["lines"]) != _line_values(invoice.lines.all()):
            changed.append("lines")
        if changed:
            raise Conflict(
                f"The invoice is {invoice.status}: only its status can change (not "
                f"{', '.join(changed)}). Void it and issue a new one to correct it."
            )

    @transaction.atomic
    def create(self, validated_data):
        lines = validated_data.pop("lines", [])
        invoice = Invoice.objects.create(
            tenant=self.context["request"].user.tenant, **validated_data
        )
        self._lines_replace(invoice, lines)
        return invoice

    @transaction.atomic
    def update(self, invoice, validated_data):
        lines = validated_data.pop("lines", None)
        invoice = super().update(invoice, validated_data)
        if lines is not None:
            invoice.lines.all().delete()
            self._lines_replace(invoice, lines)
        return invoice

    def _lines_replace(self, invoice, lines):
        InvoiceLine.objects.bulk_create(
            [
                InvoiceLine(invoice=invoice, **{"sort_order": index, **line})
                for index, line in enumerate(lines)
            ]
        )
