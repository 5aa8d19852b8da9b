"""Invoice PDFs with WeasyPrint: the HTML comes from a Django template (user text auto-escaped) and
the renderer may read nothing but `data:` URLs and the files bundled in invoices/assets/."""

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit
from urllib.request import url2pathname

from django.template.loader import render_to_string
from weasyprint import HTML
from weasyprint.urls import URLFetcher

from invoices.models import Invoice, InvoiceLine

ASSETS_DIR = (Path(__file__).resolve().parent / "assets").resolve()
FETCH_TIMEOUT_SECONDS = 5
# The line table's number columns are at least this wide, in ch (a digit's width: 10ch is about
# 21mm at the table's 9.5pt), enough for their headers and most numbers.
NUMBER_COLUMNS_MIN_CH = {"quantity": 10, "unit_price": 14, "amount": 17}


class BundledAssetsFetcher(URLFetcher):
    """Allows `data:` URLs and files under ASSETS_DIR; refuses the network, other files, redirects."""

    def __init__(self):
        super().__init__(
            timeout=FETCH_TIMEOUT_SECONDS, allowed_protocols={"data", "file"}, allow_redirects=False
        )

    def fetch(self, url, headers=None):
        if url.lower().startswith("file:"):
            # The file read is the one checked: the path as the file opener decodes it (a fragment
            # or query dropped, escapes decoded), fetched again by its own plain URL.
            parts = urlsplit(url)
            path = Path(url2pathname(parts.path)).resolve()
            if (
                parts.netloc not in ("", "localhost")
                or not path.is_relative_to(ASSETS_DIR)
                or not path.is_file()
            ):
                raise ValueError(f"Refusing to read {url}: not a bundled asset.")
            url = path.as_uri()
        return super().fetch(url, headers)


@dataclass(frozen=True)
class RenderedPdf:
    content: bytes
    pages: int


def number_column_widths(lines: list[InvoiceLine]) -> dict[str, int]:
    """Each number column's width in ch: its least, or its longest number and a digit's width for
    the cell's padding. A number is never broken across lines (1234567.12 over a 5 reads as
    another quantity): its column widens, and the description takes what is left of the page."""
    shown = {
        "quantity": [line.quantity_shown for line in lines],
        "unit_price": [str(line.unit_price_shown) for line in lines],
        "amount": [str(line.net) for line in lines],
    }
    return {
        column: max([least, *(len(number) + 1 for number in shown[column])])
        for column, least in NUMBER_COLUMNS_MIN_CH.items()
    }


def invoice_html(invoice: Invoice) -> str:
    parties = invoice.parties_shown()
    lines = invoice.ordered_lines
    return render_to_string(
        "invoices/invoice.html",
        {
            "invoice": invoice,
            "seller": parties["seller"],
            "client": parties["client"],
            "lines": lines,
            "widths": number_column_widths(lines),
            "vat_by_rate": invoice.vat_by_rate,
        },
    )


def html_to_pdf(html: str) -> RenderedPdf:
    document = HTML(
        string=html, base_url=ASSETS_DIR.as_uri() + "/", url_fetcher=BundledAssetsFetcher()
    ).render()
    return RenderedPdf(content=document.write_pdf(), pages=len(document.pages))
