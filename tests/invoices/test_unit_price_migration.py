"""invoices 0009: unit prices take four decimals. Invoices stored before read and hash as they did
(their PDFs are not rendered again), and migrating back refuses while a price has more than two."""

import io
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.exceptions import IrreversibleError
from django.db.migrations.recorder import MigrationRecorder

from invoices.models import Invoice, InvoiceLine
from jobs.models import Job
from tests.invoices.factories import InvoiceFactory, line

BEFORE = "0008"
WIDENED = ("invoices", "0009_unit_price_four_decimals")


def _prices() -> dict:
    return dict(InvoiceLine.objects.values_list("description", "unit_price"))


@pytest.mark.django_db(transaction=True)
def test_an_invoice_stored_before_reads_as_it_did_and_keeps_its_pdf(api_client, tenant):
    call_command("migrate", "invoices", BEFORE, verbosity=0)
    try:
        invoice = InvoiceFactory(tenant=tenant, currency="EUR")
        line(invoice, "Development", 12, "110.00", 21)
        line(invoice, "Pins", 3, "0.50", 0, order=1)
        line(invoice, "Most", "1", "999999999999.99", 0, order=2)
        call_command("render_invoice_pdf", str(invoice.pk), stdout=io.StringIO())
    finally:
        call_command("migrate", verbosity=0)

    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.READY
    assert invoice.content_fingerprint() == invoice.rendered_hash
    url = f"/api/v1/invoices/{invoice.pk}"
    body = api_client.get(url).json()
    assert [item["unit_price"] for item in body["lines"]] == [
        "110.00",
        "0.50",
        "999999999999.99",
    ]
    # Saved as it is, the invoice's PDF already shows it: nothing is rendered again.
    saved = api_client.patch(url, {"lines": body["lines"][:3]}, format="json")
    assert (saved.status_code, saved.json()["pdf_status"]) == (200, "ready")
    assert not Job.objects.filter(type="invoice_pdf").exists()

    changed = api_client.patch(
        url, {"lines": [{"description": "Development", "unit_price": "110.0001"}]}, format="json"
    )
    assert changed.json()["pdf_status"] == "pending"


@pytest.mark.django_db(transaction=True)
def test_migrating_back_refuses_while_a_price_has_more_than_two_decimals(api_client, tenant):
    fine = InvoiceFactory(tenant=tenant, number="2026-0001")
    line(fine, "Development", 12, "110.00", 21)
    dinars = InvoiceFactory(tenant=tenant, number="2026-0002", currency="KWD")
    line(dinars, "Dates", 3, "1.255", 5)
    line(dinars, "Tea", 7, "0.125", 0, order=1)
    line(dinars, "Bread", 1, "2.5", 0, order=2)
    fraction = InvoiceFactory(tenant=tenant, number="2026-0003")
    line(fraction, "API calls", 1234, "0.0125", 25)
    try:
        named = re.escape(
            "Lines: 3, on these invoices (workspace, number, lines): "
            "alice 2026-0002 (2), alice 2026-0003 (1)."
        )
        with pytest.raises(IrreversibleError, match=rf"^Unit prices of more .* {named}$"):
            call_command("migrate", "invoices", BEFORE, verbosity=0)
        assert WIDENED in MigrationRecorder(connection).applied_migrations()
        assert _prices()["Tea"] == Decimal("0.125")

        # Priced to the cent again, the invoices migrate back with their prices as they are.
        url = f"/api/v1/invoices/{dinars.pk}"
        lines = [{"description": "Dates", "quantity": "3", "unit_price": "1.25"}]
        assert api_client.patch(url, {"lines": lines}, format="json").status_code == 200
        api_client.delete(f"/api/v1/invoices/{fraction.pk}")
        call_command("migrate", "invoices", BEFORE, verbosity=0)
        assert WIDENED not in MigrationRecorder(connection).applied_migrations()
        assert _prices() == {"Development": Decimal("110.00"), "Dates": Decimal("1.25")}
    finally:
        call_command("migrate", verbosity=0)
    assert api_client.get(url).json()["lines"][0]["unit_price"] == "1.25"
