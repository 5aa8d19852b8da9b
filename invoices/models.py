import functools
import hashlib
import json
import re
from collections import defaultdict
from decimal import ROUND_HALF_UP, Context, Decimal, localcontext

import pycountry
from babel.numbers import get_currency_precision
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import IntegrityError, models
from django.template.defaultfilters import floatformat

from accounts.models import TenantOwned, TenantScopedQuerySet
from core.validators import validate_printable, validate_text_block, validate_text_line

NUMBER_CONSTRAINT = "invoice_number_per_tenant"
# An invoice's sums are exact: one line reaches 28 digits (quantity 9 + 3, unit price 12 + 4), and
# the default context's 28 would round the sums of many lines, then refuse to round such a sum to a
# currency of 3 or 4 decimals (KWD, CLF): an InvalidOperation, every page showing the invoice a 500.
MONEY_CONTEXT = Context(prec=100, rounding=ROUND_HALF_UP)


def invoice_number_was_taken(error: IntegrityError) -> bool:
    """Whether a write failed because another invoice of the workspace took the number between
    the check and the write (a racing request's invoice is invisible to the check)."""
    diag = getattr(error.__cause__, "diag", None)
    return getattr(diag, "constraint_name", None) == NUMBER_CONSTRAINT


def exact(compute):
    """`compute` with MONEY_CONTEXT's precision."""

    @functools.wraps(compute)
    def wrapped(*args):
        with localcontext(MONEY_CONTEXT):
            return compute(*args)

    return wrapped


def currency_decimals(currency: str) -> int:
    """The decimals the currency's amounts show (ISO 4217 minor units, from CLDR): 0 for JPY, 2 for
    EUR, 3 for KWD; 2 for a code CLDR does not know."""
    return get_currency_precision(currency)


def _places(decimals: int) -> Decimal:
    return Decimal(1).scaleb(-decimals)


def money(value: Decimal, currency: str) -> Decimal:
    """The amount rounded half up to the currency's minor unit (whole yen, cents of euro, fils of
    dinar): str() of it is what the invoice shows ("999", "999.00", "1.500")."""
    amount = value.quantize(_places(currency_decimals(currency)), rounding=ROUND_HALF_UP)
    # A negative amount that rounds to nothing is nothing: an invoice never shows "-0.00".
    return amount.copy_abs() if amount.is_zero() else amount


def _with_decimals_at_least(value: Decimal, decimals: int) -> Decimal:
    price = value.normalize()
    return price.quantize(_places(decimals)) if price.as_tuple().exponent > -decimals else price


def price_shown(value: Decimal, currency: str) -> Decimal:
    """A price as given, written with at least the currency's decimals: 0.5 JPY, 333 JPY,
    12.50 EUR, 1.250 KWD."""
    return _with_decimals_at_least(value, currency_decimals(currency))


# Unit prices were stored with exactly two decimals before they took four.
PRICE_DECIMALS_AT_LEAST = 2


def price_canonical(value: Decimal) -> Decimal:
    """A unit price with the decimals it has, and at least two, whatever the currency: 110.00,
    0.50, 1.25, 0.0125. str() of a price stored with two decimals is what it always was."""
    return _with_decimals_at_least(value, PRICE_DECIMALS_AT_LEAST)


# ISO 4217's codes for "no currency" and for testing: nothing can be billed in them.
NOT_MONEY = {"XXX", "XTS"}


def validate_currency(value: str) -> None:
    """A currency of ISO 4217 (pycountry's list), by its code in capitals."""
    if (
        not re.fullmatch(r"[A-Z]{3}", value)
        or pycountry.currencies.get(alpha_3=value) is None
        or value in NOT_MONEY
    ):
        raise ValidationError("An ISO 4217 code in capitals, such as EUR.", code="currency")


def validate_dates(issue_date, due_date) -> None:
    if issue_date and due_date and due_date < issue_date:
        raise ValidationError({"due_date": "The due date is before the issue date."})


# What an invoice shows of its client, in this order.
CLIENT_DETAILS = ("name", "email", "address", "organisation_number", "vat_number")


class Client(TenantOwned, models.Model):
    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="clients")
    name = models.CharField(max_length=200, validators=[validate_text_line])
    email = models.EmailField(blank=True)
    address = models.TextField(blank=True, validators=[validate_text_block])
    organisation_number = models.CharField(
        max_length=64, blank=True, validators=[validate_text_line]
    )
    vat_number = models.CharField(max_length=64, blank=True, validators=[validate_text_line])
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class Invoice(TenantOwned, models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        SENT = "sent", "Sent"
        PAID = "paid", "Paid"
        VOID = "void", "Void"

    # An invoice only moves forward; a sent or paid one is corrected by voiding it.
    NEXT_STATUSES = {
        Status.DRAFT: {Status.SENT, Status.PAID, Status.VOID},
        Status.SENT: {Status.PAID, Status.VOID},
        Status.PAID: {Status.VOID},
        Status.VOID: set(),
    }

    class PdfStatus(models.TextChoices):
        NONE = "none", "None"
        PENDING = "pending", "Pending"
        RENDERING = "rendering", "Rendering"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="invoices")
    number = models.CharField(max_length=64, validators=[validate_printable])
    client = models.ForeignKey(
        Client, null=True, blank=True, on_delete=models.RESTRICT, related_name="invoices"
    )
    # Deleting a project must not change the invoices billed for it.
    project = models.ForeignKey(
        "budgets.Project", null=True, blank=True, on_delete=models.RESTRICT, related_name="invoices"
    )
    issue_date = models.DateField(null=True, blank=True)
    due_date = models.DateField(null=True, blank=True)
    currency = models.CharField(
        max_length=3, default="EUR", validators=[validate_currency], help_text="ISO 4217, e.g. EUR."
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    notes = models.TextField(blank=True, validators=[validate_text_block])
    pdf_file = models.FileField(upload_to="invoices/", max_length=255, blank=True)
    pdf_url = models.CharField(max_length=500, blank=True)
    pdf_status = models.CharField(max_length=16, choices=PdfStatus.choices, default=PdfStatus.NONE)
    pdf_error = models.TextField(blank=True)
    rendered_at = models.DateTimeField(null=True, blank=True)
    content_hash = models.CharField(
        max_length=64, blank=True, help_text="Of everything the PDF shows."
    )
    rendered_hash = models.CharField(
        max_length=64, blank=True, help_text="Of the content last rendered."
    )
    pdf_job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    parties = models.JSONField(
        null=True,
        blank=True,
        editable=False,
        help_text="The seller and the client as they were when the invoice left draft: it keeps"
        " showing them.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant", "number"], name=NUMBER_CONSTRAINT)]

    def __str__(self):
        return f"Invoice {self.number}"

    def save(self, *args, **kwargs):
        # An issued invoice is a document as sent: a later change of its client or of the
        # workspace's name shows only on drafts.
        if self.status != self.Status.DRAFT and self.parties is None:
            self.parties = self.parties_shown()
            if kwargs.get("update_fields") is not None:
                kwargs["update_fields"] = {*kwargs["update_fields"], "parties"}
        super().save(*args, **kwargs)

    def clean(self):
        super().clean()
        # An issued invoice's dates stay as it was sent (they cannot change): only a new invoice's
        # or a draft's are checked.
        if (
            self._state.adding
            or Invoice.objects.filter(pk=self.pk, status=self.Status.DRAFT).exists()
        ):
            validate_dates(self.issue_date, self.due_date)

    def parties_shown(self) -> dict:
        """The seller's name and the client's details (None without a client) the invoice shows:
        as they were when it left draft, or for a draft as they are now."""
        if self.parties is not None:
            return self.parties
        client = self.client
        return {
            "seller": self.tenant.name,
            "client": client and {name: getattr(client, name) for name in CLIENT_DETAILS},
        }

    @property
    def deletion_refused(self) -> str:
        """Why the invoice may not be deleted: a sent or paid one stays on record, voided. Empty
        for a draft."""
        if self.status == self.Status.DRAFT:
            return ""
        refusal = f"The invoice is {self.status}; only drafts can be deleted."
        if self.status == self.Status.VOID:
            return refusal
        return f'{refusal} Set its status to "void" instead.'

    @property
    def ordered_lines(self) -> list["InvoiceLine"]:
        return sorted(self.lines.all(), key=lambda line: (line.sort_order, line.pk or 0))

    @property
    @exact
    def subtotal(self) -> Decimal:
        return money(sum((line.net for line in self.lines.all()), Decimal(0)), self.currency)

    @property
    @exact
    def vat_by_rate(self) -> list[dict]:
        """VAT per rate: the rate applied to the sum of that rate's rounded line amounts, rounded
        for the currency."""
        bases = defaultdict(Decimal)
        for line in self.lines.all():
            bases[line.vat_rate] += line.net
        return [
            {
                "rate": rate,
                "base": money(base, self.currency),
                "vat": money(base * rate / 100, self.currency),
            }
            for rate, base in sorted(bases.items())
        ]

    @property
    @exact
    def vat_total(self) -> Decimal:
        return money(sum((row["vat"] for row in self.vat_by_rate), Decimal(0)), self.currency)

    @property
    @exact
    def total(self) -> Decimal:
        return money(self.subtotal + self.vat_total, self.currency)

    @property
    def storage_path(self) -> str:
        return f"invoices/{self.tenant_id}/{self.pk}.pdf"

    def content_fingerprint(self) -> str:
        """A hash of everything the PDF shows: a render of an older fingerprint is stale."""
        parties = self.parties_shown()
        client = parties["client"]
        content = {
            "seller": parties["seller"],
            "invoice": [
                self.number,
                str(self.issue_date),
                str(self.due_date),
                self.currency,
                self.status,
                self.notes,
            ],
            "client": client and [client[name] for name in CLIENT_DETAILS],
            # A price's canonical form, not its column's four decimals: the hash of an invoice
            # stored when prices had two is unchanged, so its PDF is not rendered again.
            "lines": [
                [
                    line.description,
                    str(line.quantity),
                    str(price_canonical(line.unit_price)),
                    str(line.vat_rate),
                ]
                for line in self.ordered_lines
            ],
        }
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    def download_url(self) -> str:
        return f"{settings.PUBLIC_BASE_URL}/api/v1/invoices/{self.pk}/pdf"


# The most lines an invoice has: its PDF (about 0.1 s a line of the longest description) renders
# well within a render's time limit.
INVOICE_LINES_MAX = 1000


class InvoiceLine(models.Model):
    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="lines")
    # Bounded: a PDF's table wraps a long unbroken word at any character, which costs the renderer
    # more than in proportion (5,000 characters take seconds, 100,000 longer than any time limit).
    description = models.TextField(max_length=1000, validators=[validate_text_block])
    quantity = models.DecimalField(
        max_digits=12,
        decimal_places=3,
        default=Decimal("1"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    # Four decimals for any currency: a price may be finer than its amounts (1.250 KWD, 0.5 JPY,
    # 0.0125 EUR); each line's amount is rounded to the currency's decimals.
    unit_price = models.DecimalField(max_digits=16, decimal_places=4)
    vat_rate = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
        help_text="Percent.",
    )
    sort_order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "id"]

    def __str__(self):
        return self.description[:60]

    @property
    @exact
    def net(self) -> Decimal:
        return money(self.quantity * self.unit_price, self.invoice.currency)

    @property
    def quantity_shown(self) -> str:
        """The quantity as the PDF prints it: its three decimals, or none when it is whole (1.500,
        12)."""
        return floatformat(self.quantity, -3)

    @property
    def unit_price_shown(self) -> Decimal:
        return price_shown(self.unit_price, self.invoice.currency)
