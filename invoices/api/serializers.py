from contextlib import contextmanager

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from budgets.models import Project
from core.errors import Conflict
from core.validation import (
    FilterChoiceField,
    FilterIdField,
    KnownFieldsOnly,
    WorkspaceObjectField,
    name_search_field,
)
from invoices.models import (
    INVOICE_LINES_MAX,
    PRICE_DECIMALS_AT_LEAST,
    Client,
    Invoice,
    InvoiceLine,
    invoice_number_was_taken,
    price_canonical,
    validate_dates,
)
from invoices.services import invoice_pdf_url


@extend_schema_field(
    {
        "anyOf": [
            {"type": "string", "format": "email", "maxLength": 254},
            {"type": "string", "enum": [""]},
        ],
        "description": "An email address, or empty.",
    }
)
class OptionalEmailField(serializers.EmailField):
    """An email address or "" (none): the schema says both, so that "" is not an invalid email."""


class ClientListQuerySerializer(serializers.Serializer):
    search = name_search_field()


class ClientSerializer(KnownFieldsOnly, serializers.ModelSerializer):
    email = OptionalEmailField(max_length=254, required=False, allow_blank=True)

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


def _money_field(**kwargs):
    # No max_digits: computed money must render whatever the stored fields produce, and one line's
    # amount alone reaches 21 whole digits (quantity 9, unit price 12); an invoice sums many. No
    # decimal_places: the invoice writes each amount with its currency's decimals.
    return serializers.DecimalField(
        max_digits=None,
        decimal_places=None,
        read_only=True,
        help_text="With the currency's decimals (ISO 4217): 999 JPY, 999.00 EUR, 1.500 KWD.",
        **kwargs,
    )


class UnitPriceField(serializers.DecimalField):
    """Taken with up to four decimals; given with the decimals it has and at least two, as prices
    were given when they were stored with two ("110.00", "0.50")."""

    def to_representation(self, value):
        return f"{price_canonical(value):f}"


class UnitPriceFieldSchema(OpenApiSerializerFieldExtension):
    target_class = UnitPriceField

    def map_serializer_field(self, auto_schema, direction):
        schema = auto_schema._map_serializer_field(self.target, direction, bypass_extensions=True)
        if direction == "response":
            whole, places = self.target.max_whole_digits, self.target.decimal_places
            schema["pattern"] = rf"^-?\d{{1,{whole}}}\.\d{{{PRICE_DECIMALS_AT_LEAST},{places}}}$"
        return schema


PRICE = InvoiceLine._meta.get_field("unit_price")
DEFAULTED = ("quantity", "vat_rate")


class InvoiceLineSerializer(KnownFieldsOnly, serializers.ModelSerializer):
    unit_price = UnitPriceField(
        max_digits=PRICE.max_digits,
        decimal_places=PRICE.decimal_places,
        help_text="Up to 4 decimals in any currency: 1.250 KWD, 0.5 JPY, 0.0125 EUR. Given back"
        ' with the decimals it has and at least two ("110.00", "0.50", "1.25", "0.0125"); the'
        " line's amount is rounded to the currency's decimals.",
    )
    amount = _money_field(source="net")

    class Meta:
        model = InvoiceLine
        fields = ["description", "quantity", "unit_price", "vat_rate", "sort_order", "amount"]
        extra_kwargs = {"sort_order": {"required": False}}

    def validate(self, attrs):
        # A PATCH of the invoice is partial, but each line it sends replaces a whole line: what
        # it leaves out is the model's default (quantity 1, VAT 0), as on a create.
        required = ("description", "unit_price")
        missing = [name for name in required if name not in attrs]
        if missing:
            raise serializers.ValidationError(
                {name: [self.fields[name].error_messages["required"]] for name in missing}
            )
        defaults = {name: InvoiceLine._meta.get_field(name).default for name in DEFAULTED}
        return {**defaults, **attrs}


# Every field read-only, as the invoice computes the rows: drf-spectacular then makes no request
# component of it (a "VatRowRequest" that no request takes).
class VatRowSerializer(serializers.Serializer):
    rate = serializers.DecimalField(max_digits=5, decimal_places=2, read_only=True)
    base = _money_field()
    vat = _money_field()


LINE_FIELDS = ("sort_order", "description", "quantity", "unit_price", "vat_rate")


def _lines_as_listed(lines: list[dict]) -> list[tuple]:
    """The rows validated lines become, in the invoice's order (ties keep the order sent)."""
    return sorted((tuple(line[f] for f in LINE_FIELDS) for line in lines), key=lambda row: row[0])


def _lines_stored(invoice: Invoice) -> list[tuple]:
    return [tuple(getattr(line, f) for f in LINE_FIELDS) for line in invoice.ordered_lines]


@contextmanager
def _number_taken_is_a_conflict(number: str):
    """validate_number cannot see a racing request's uncommitted invoice: the unique constraint
    lets one of them in, and the other is told, with nothing of its own written."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as error:
        if not invoice_number_was_taken(error):
            raise
        raise Conflict(
            f"Another invoice of this workspace has the number {number!r} (created meanwhile)."
        ) from error


class InvoiceSerializer(KnownFieldsOnly, serializers.ModelSerializer):
    client = WorkspaceObjectField(Client, allow_null=True, required=False)
    project = WorkspaceObjectField(Project, allow_null=True, required=False)
    lines = InvoiceLineSerializer(many=True, required=False, max_length=INVOICE_LINES_MAX)
    subtotal = _money_field()
    vat = VatRowSerializer(source="vat_by_rate", many=True, read_only=True)
    total = _money_field()
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

    def validate_lines(self, lines):
        return [{"sort_order": index, **line} for index, line in enumerate(lines)]

    def validate(self, attrs):
        if self.instance is not None:
            self._check_change_allowed(self.instance, attrs)
            if self.instance.status != Invoice.Status.DRAFT:
                # Unchanged, as just checked: a sent invoice keeps its line rows and its dates
                # as they are.
                attrs.pop("lines", None)
                return attrs
        try:
            validate_dates(
                attrs.get("issue_date", getattr(self.instance, "issue_date", None)),
                attrs.get("due_date", getattr(self.instance, "due_date", None)),
            )
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.message_dict) from exc
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
        if "lines" in attrs and _lines_as_listed(attrs["lines"]) != _lines_stored(invoice):
            changed.append("lines")
        if changed:
            raise Conflict(
                f"The invoice is {invoice.status}: only its status can change (not "
                f"{', '.join(changed)}). Void it and issue a new one to correct it."
            )

    @transaction.atomic
    def create(self, validated_data):
        lines = validated_data.pop("lines", [])
        with _number_taken_is_a_conflict(validated_data["number"]):
            invoice = Invoice.objects.create(
                tenant=self.context["request"].user.tenant, **validated_data
            )
        self._lines_replace(invoice, lines)
        return invoice

    @transaction.atomic
    def update(self, invoice, validated_data):
        lines = validated_data.pop("lines", None)
        with _number_taken_is_a_conflict(validated_data.get("number", invoice.number)):
            invoice = super().update(invoice, validated_data)
        if lines is not None:
            invoice.lines.all().delete()
            self._lines_replace(invoice, lines)
        return invoice

    def _lines_replace(self, invoice, lines):
        InvoiceLine.objects.bulk_create([InvoiceLine(invoice=invoice, **line) for line in lines])


class InvoiceListQuerySerializer(serializers.Serializer):
    status = FilterChoiceField(choices=Invoice.Status.choices, required=False)
    client = FilterIdField("client", required=False)
    project = FilterIdField("project", required=False)
