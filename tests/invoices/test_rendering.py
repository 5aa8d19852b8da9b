import http.server
import io
import threading
from decimal import Decimal

import pytest
from pypdf import PdfReader

from invoices.rendering import html_to_pdf, invoice_html
from tests.invoices.factories import InvoiceFactory, line


def _text(pdf: bytes) -> list[str]:
    return [page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages]


def _page_and_runs(pdf: bytes):
    """The first page, and (x, y, text) in points for each chunk of text pypdf reads, with the x
    of every run that starts inside it (the PDF positions each cell's text on its own)."""
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    starts, chunks = [], []

    def to_points(cm, x, y):
        return cm[0] * x + cm[2] * y + cm[4], cm[1] * x + cm[3] * y + cm[5]

    def on_operator(operator, args, cm, tm):
        if operator == b"Tm":
            starts.append(to_points(cm, float(args[4]), float(args[5])))

    def on_text(text, cm, tm, font, size):
        if text.strip():
            chunks.append((*to_points(cm, tm[4], tm[5]), text))

    page.extract_text(visitor_operand_before=on_operator, visitor_text=on_text)
    return page, starts, chunks


def _row_starts(starts, chunks, needle: str) -> list[float]:
    y = next(y for _, y, text in chunks if needle in text)
    return sorted(x for x, run_y in starts if abs(run_y - y) < 0.5)


RIGHT_MARGIN_POINTS = 16 / 25.4 * 72


def test_a_long_unbroken_description_keeps_the_amount_columns_on_the_page(tenant):
    url = "https://example.com/" + "a" * 180
    invoice = InvoiceFactory(tenant=tenant)
    line(invoice, url, 3, "33.33", 25)
    page, starts, chunks = _page_and_runs(html_to_pdf(invoice_html(invoice)).content)
    text = page.extract_text()
    assert "3 33.33 25 99.99" in text
    assert url in "".join(text.split())  # wrapped inside its column, all of it shown
    cells = _row_starts(starts, chunks, "99.99")
    assert len(cells) >= 5  # description, quantity, unit price, VAT %, amount
    assert cells[-1] < float(page.mediabox.width) - RIGHT_MARGIN_POINTS, cells


def test_long_unbroken_notes_and_client_details_wrap_inside_the_page(tenant):
    reference, vat_number = "AB12" * 30, "NO" + "9" * 60
    invoice = InvoiceFactory(
        tenant=tenant, notes=f"Reference: {reference}", client__vat_number=vat_number
    )
    line(invoice, "Work", 1, 100, 25)
    text = _text(html_to_pdf(invoice_html(invoice)).content)[0]
    for unbroken in (reference, vat_number):
        lines = [row for row in text.splitlines() if unbroken[:8] in row or unbroken[-8:] in row]
        assert len(lines) >= 2, (unbroken, text)  # wrapped, not cut at the page's edge
        assert unbroken in "".join(text.split())


def test_the_amount_columns_headers_sit_over_their_numbers_and_a_description_keeps_its_lines(
    tenant,
):
    invoice = InvoiceFactory(tenant=tenant, currency="EUR")
    line(invoice, "Design\nReview", 1, "1000000", 0)
    page, starts, chunks = _page_and_runs(html_to_pdf(invoice_html(invoice)).content)
    header_x = _row_starts(starts, chunks, "Amount")[-1]
    amount_x = _row_starts(starts, chunks, "1000000.00")[-1]
    assert header_x > amount_x  # right-aligned: the wider number starts before its header
    rows = page.extract_text().splitlines()
    assert any(row.startswith("Design") for row in rows) and "Review" in rows
    assert "Design Review" not in page.extract_text()


def test_the_largest_storable_amounts_stay_on_the_page(tenant):
    invoice = InvoiceFactory(tenant=tenant, currency="EUR")
    for order in range(3):
        line(invoice, "Biggest", "999999999.999", "999999999999.9999", 25, order=order)
    page, starts, _ = _page_and_runs(html_to_pdf(invoice_html(invoice)).content)
    text = "".join(page.extract_text().split())
    assert "999999999998999900000.00" in text  # one line's amount
    assert "Total3749999999996249625000.00EUR" in text
    assert max(x for x, _ in starts) < float(page.mediabox.width) - RIGHT_MARGIN_POINTS


def test_a_long_quantity_price_or_amount_is_never_broken_across_lines(tenant):
    invoice = InvoiceFactory(tenant=tenant, currency="EUR")
    line(invoice, "Widgets", "1234567.125", "12.50", "12.5")
    rows = _text(html_to_pdf(invoice_html(invoice)).content)[0].splitlines()
    assert "Widgets 1234567.125 12.50 12.50 15432089.06" in rows

    # The longest of each a line can hold, in a currency of four decimals.
    invoice = InvoiceFactory(tenant=tenant, currency="CLF")
    line(invoice, "Most", "999999999.999", "-999999999999.9999", 25)
    page, starts, _ = _page_and_runs(html_to_pdf(invoice_html(invoice)).content)
    rows = page.extract_text().splitlines()
    assert "Most 999999999.999 -999999999999.9999 25 -999999999998999900000.0000" in rows
    assert max(x for x, _ in starts) < float(page.mediabox.width) - RIGHT_MARGIN_POINTS


def test_money_is_rounded_per_line_and_vat_summed_per_rate(tenant):
    invoice = InvoiceFactory(tenant=tenant)
    line(invoice, "Consulting", "1.5", "333.333", 25)
    line(invoice, "Books", 3, "19.99", 12)
    line(invoice, "Licence", 1, "100", 25)
    assert [row["rate"] for row in invoice.vat_by_rate] == [Decimal("12.00"), Decimal("25.00")]
    assert invoice.subtotal == Decimal("500.00") + Decimal("59.97") + Decimal("100.00")
    assert [row["vat"] for row in invoice.vat_by_rate] == [Decimal("7.20"), Decimal("150.00")]
    assert invoice.total == invoice.subtotal + Decimal("157.20")


def test_the_pdf_shows_the_invoice(tenant):
    invoice = InvoiceFactory(tenant=tenant, number="2026-0042", client__name="Fjord Analytics AS")
    line(invoice, "Strategy workshop", 2, "1500.00", 25, order=0)
    line(invoice, "Printed handbooks", 10, "45.50", 12, order=1)
    pdf = html_to_pdf(invoice_html(invoice))
    text = "\n".join(_text(pdf.content))
    assert pdf.pages == 1
    for expected in [
        "2026-0042",
        "Fjord Analytics AS",
        "Strategy workshop",
        "Printed handbooks",
        "Alice's workspace",
    ]:
        assert expected in text
    assert "VAT 25 % on 3000.00" in text and "750.00" in text
    assert "VAT 12 % on 455.00" in text and "54.60" in text
    assert "4259.60 NOK" in text
    assert "1 / 1" in text


def test_missing_data_renders_placeholders(tenant):
    invoice = InvoiceFactory(tenant=tenant, client=None, issue_date=None, currency="")
    text = "\n".join(_text(html_to_pdf(invoice_html(invoice)).content))
    assert "no client" in text and "no lines" in text


def test_two_thousand_lines_paginate_with_headers_and_page_numbers(tenant):
    invoice = InvoiceFactory(tenant=tenant)
    from invoices.models import InvoiceLine

    InvoiceLine.objects.bulk_create(
        [
            InvoiceLine(
                invoice=invoice,
                description=f"Item {i:04d}",
                quantity=1,
                unit_price=Decimal("10"),
                vat_rate=25,
                sort_order=i,
            )
            for i in range(2000)
        ]
    )
    pdf = html_to_pdf(invoice_html(invoice))
    pages = _text(pdf.content)
    assert 30 <= len(pages) <= 80
    for number, text in enumerate(pages, start=1):
        assert "Description" in text and "Unit price" in text, f"page {number} has no table header"
        assert f"{number} / {len(pages)}" in text
    assert "Item 1999" in pages[-1] or "Item 1999" in pages[-2]


class _Recorder(http.server.BaseHTTPRequestHandler):
    requests = []

    def do_GET(self):  # noqa: N802
        _Recorder.requests.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"body { color: red }")

    def log_message(self, *args):
        pass


@pytest.fixture
def loopback_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.requests = []
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_user_text_is_escaped_and_fetches_nothing(tenant, loopback_server):
    hostile = (
        '<img src="file:///etc/passwd"> '
        f'<link rel="stylesheet" href="{loopback_server}/evil.css"> '
        "<script>alert(1)</script>"
    )
    invoice = InvoiceFactory(tenant=tenant, notes=hostile, client__name=f"Evil {hostile}")
    line(invoice, hostile, 1, 1, 0)
    html = invoice_html(invoice)
    assert "<script>" not in html and "&lt;script&gt;" in html
    text = "\n".join(_text(html_to_pdf(html).content))
    assert _Recorder.requests == []
    assert "root:" not in text
    assert "<script>alert(1)</script>" in text.replace("\n", "")
    assert "file:///etc/passwd" in text


def test_the_renderer_refuses_files_and_network_even_in_raw_html(loopback_server):
    html = (
        f'<html><head><link rel="stylesheet" href="{loopback_server}/x.css"></head>'
        '<body><img src="file:///etc/passwd"><img src="file:///etc/hostname">hello</body></html>'
    )
    text = "\n".join(_text(html_to_pdf(html).content))
    assert "hello" in text
    assert _Recorder.requests == []


def test_the_renderer_reads_no_file_outside_its_assets_however_the_url_is_written(tmp_path):
    from invoices.rendering import ASSETS_DIR

    outside = tmp_path / "outside.css"
    outside.write_text('body::before { content: "read from outside the assets" }')
    # The path before the fragment is the file opened; the one after it only looks like an asset.
    back_to_root = "/".join([".."] * len(outside.parts))
    html = (
        f'<html><head><link rel="stylesheet" href="{outside.as_uri()}#/{back_to_root}'
        f'{ASSETS_DIR}/invoice.css"></head><body>hello</body></html>'
    )
    text = "\n".join(_text(html_to_pdf(html).content))
    assert "hello" in text
    assert "read from outside" not in text


@pytest.mark.parametrize(
    ("client_name", "description", "font"),
    [
        ("東京デザイン株式会社", "설계 워크숍 — 项目管理", "CJK"),
        ("Party Shop 🎉", "Balloons 🎈 and confetti ✨", "Emoji"),
    ],
)
def test_text_in_any_script_renders_with_a_font_that_has_it(
    tenant, caplog, client_name, description, font
):
    invoice = InvoiceFactory(tenant=tenant, number="2026-0043", client__name=client_name)
    line(invoice, description, 1, "1000.00", 25)
    pdf = PdfReader(io.BytesIO(html_to_pdf(invoice_html(invoice)).content))
    # WeasyPrint says so when a character has no glyph in any font: it would print as a box.
    assert "unsupported by fonts" not in caplog.text
    fonts = {
        entry.get_object()["/BaseFont"] for entry in pdf.pages[0]["/Resources"]["/Font"].values()
    }
    assert any(font in name for name in fonts), fonts
    text = pdf.pages[0].extract_text()
    assert client_name in text and description in text


def test_the_pdf_shows_yen_as_whole_units_and_keeps_a_unit_price_fraction(tenant):
    books = InvoiceFactory(tenant=tenant, currency="JPY")
    line(books, "Books", 3, "333", 0)
    text = "\n".join(_text(html_to_pdf(invoice_html(books)).content))
    assert "Books 3 333 0 999" in text
    assert "Total 999 JPY" in text and "999.00" not in text

    invoice = InvoiceFactory(tenant=tenant, currency="JPY")
    line(invoice, "Stickers", 3, "12.50", 10, order=0)
    line(invoice, "Pins", 3, "0.50", 0, order=1)
    text = "\n".join(_text(html_to_pdf(invoice_html(invoice)).content))
    assert "Stickers 3 12.5 10 38" in text  # 37.50 rounded half up on its line
    assert "Pins 3 0.5 0 2" in text
    assert "Subtotal 40 JPY" in text
    assert "VAT 0 % on 2 0 JPY" in text and "VAT 10 % on 38 4 JPY" in text
    assert "Total 44 JPY" in text


def test_the_pdf_shows_dinars_with_three_decimals(tenant):
    invoice = InvoiceFactory(tenant=tenant, currency="KWD")
    line(invoice, "Consulting", 1, "1.50", 5)
    text = "\n".join(_text(html_to_pdf(invoice_html(invoice)).content))
    assert "Consulting 1 1.500 5 1.500" in text
    assert "VAT 5 % on 1.500 0.075 KWD" in text  # to the fils, not 0.080
    assert "Total 1.575 KWD" in text
