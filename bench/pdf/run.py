"""Our invoice render against WeasyPrint rendering the same HTML directly, in the same run.

    python bench/pdf/run.py [--rounds 3]

For a 1-page and a 1,000-line invoice: our render (template, the asset-only URL fetcher, page count)
beside a bare `weasyprint.HTML(string=...).write_pdf()` of the HTML we produced. Each measurement runs
in a fresh process so that its peak memory is its own. Prints seconds, pages/s, peak RSS and our
overhead (target <= 1.2x).
"""

import argparse
import multiprocessing
import os
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.common import bench_env, prepare_database  # noqa: E402


def _setup():
    import django

    django.setup()


def _measure(kind: str, invoice_id: int, queue) -> None:
    _setup()
    from weasyprint import HTML

    from invoices.models import Invoice
    from invoices.rendering import ASSETS_DIR, html_to_pdf, invoice_html

    invoice = (
        Invoice.objects.select_related("tenant", "client")
        .prefetch_related("lines")
        .get(pk=invoice_id)
    )
    html = invoice_html(invoice)
    started = time.perf_counter()
    if kind == "ours":
        rendered = html_to_pdf(invoice_html(invoice))
        pages = rendered.pages
    else:
        document = HTML(string=html, base_url=ASSETS_DIR.as_uri() + "/").render()
        document.write_pdf()
        pages = len(document.pages)
    seconds = time.perf_counter() - started
    queue.put((seconds, pages, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def _run(kind: str, invoice_id: int) -> tuple[float, int, float]:
    queue = multiprocessing.get_context("fork").Queue()
    process = multiprocessing.get_context("fork").Process(
        target=_measure, args=(kind, invoice_id, queue)
    )
    process.start()
    result = queue.get(timeout=600)
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    env = bench_env("pdf")
    prepare_database(env)
    os.environ.update(env)
    _setup()
    from accounts.models import Tenant
    from invoices.models import Client, Invoice, InvoiceLine

    tenant = Tenant.objects.create(slug="bench", name="Bench Consulting AS")
    client = Client.objects.create(tenant=tenant, name="Client AS", address="Storgata 1\n0155 Oslo")
    invoices = {}
    for name, lines in (("1 page", 10), ("1,000 lines", 1000)):
        invoice = Invoice.objects.create(tenant=tenant, client=client, number=name, currency="NOK")
        InvoiceLine.objects.bulk_create(
            [
                InvoiceLine(
                    invoice=invoice,
                    description=f"Line {i}: consulting work",
                    quantity=Decimal("1.5"),
                    unit_price=Decimal("950"),
                    vat_rate=Decimal("25"),
                    sort_order=i,
                )
                for i in range(lines)
            ]
        )
        invoices[name] = invoice.pk

    print(f"{'invoice':<12}{'renderer':<12}{'seconds':>9}{'pages':>7}{'pages/s':>9}{'peak MB':>9}")
    for name, invoice_id in invoices.items():
        best = {}
        for _ in range(args.rounds):
            for kind in ("weasyprint", "ours"):
                result = _run(kind, invoice_id)
                if kind not in best or result[0] < best[kind][0]:
                    best[kind] = result
        for kind, (seconds, pages, peak) in best.items():
            print(
                f"{name:<12}{kind:<12}{seconds:>9.3f}{pages:>7}{pages / seconds:>9.1f}{peak:>9.0f}"
            )
        print(
            f"{name:<12}overhead: {best['ours'][0] / best['weasyprint'][0]:.2f}x  (target <= 1.2x)"
        )


if __name__ == "__main__":
    main()
