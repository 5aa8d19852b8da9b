"""WeasyPrint takes a second or more to import: a management command or a web process loads it
only when it renders a PDF, and a worker once, in its main process, before it forks its pool."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from invoices.models import Invoice
from tests.invoices.factories import InvoiceFactory, line
from tests.worker import ROOT, running_worker, worker_env

pytestmark = pytest.mark.django_db(transaction=True)

# Loads what a web process loads (the WSGI application, every URL's view, the admin's), runs a
# command that renders nothing, then one that renders; says when WeasyPrint was loaded.
_LOADS = """
import io, json, sys
import config.wsgi
from django.core.management import call_command
from django.urls import get_resolver

get_resolver().url_patterns
call_command("queue_stats", stdout=io.StringIO())
started = "weasyprint" in sys.modules
call_command("render_invoice_pdf", sys.argv[1], stdout=io.StringIO())
print(json.dumps({"started": started, "rendered": "weasyprint" in sys.modules}))
"""


def test_commands_and_web_processes_load_weasyprint_only_to_render(tenant):
    invoice = InvoiceFactory(tenant=tenant)
    line(invoice, "Design", 1, 10, 0)
    loaded = subprocess.run(
        [sys.executable, "-c", _LOADS, str(invoice.pk)],
        cwd=ROOT,
        env=worker_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(loaded.stdout.splitlines()[-1]) == {"started": False, "rendered": True}
    invoice.refresh_from_db()
    assert invoice.pdf_status == Invoice.PdfStatus.READY


def _loads_weasyprint(pid: int) -> bool:
    """Whether the process has WeasyPrint's text library (Pango, which its import loads) mapped."""
    return "libpango-1.0" in Path(f"/proc/{pid}/maps").read_text()


def test_a_worker_loads_weasyprint_before_it_forks_its_pool():
    with running_worker(concurrency=1) as worker:
        [pool_process] = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        assert _loads_weasyprint(worker.pid)
        assert _loads_weasyprint(int(pool_process))
