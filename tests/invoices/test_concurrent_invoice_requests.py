"""Racing requests on invoices through real HTTP: pytest-django's live server and many client
threads, each request in its own database connection."""

import threading
from concurrent.futures import ThreadPoolExecutor
from functools import partial

import httpx
import psycopg
import pytest
from django.db import connection, transaction

from accounts.models import Tenant
from invoices.models import Invoice, InvoiceLine
from invoices.services import invoice_pdf_saved
from tests.concurrency import sessions_waiting_for_a_lock
from tests.factories import api_key_for
from tests.invoices.factories import InvoiceFactory, line
from tests.worker import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_racing_creations_of_one_number_make_one_invoice_and_no_server_error(live_server, tenant):
    key = api_key_for(tenant)
    body = {
        "number": "2026-RACE",
        "lines": [{"description": "Design", "quantity": "1", "unit_price": "100"}],
    }
    url = f"{live_server.url}/api/v1/invoices"
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(12) as pool:
        responses = list(
            pool.map(
                lambda _: client.post(url, json=body, headers={"Authorization": f"Bearer {key}"}),
                range(12),
            )
        )
    assert {r.status_code for r in responses} <= {201, 400, 409}, [r.text for r in responses]
    assert [r.status_code for r in responses].count(201) == 1
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "CONFLICT"
            assert "'2026-RACE'" in response.json()["detail"]
        elif response.status_code == 400:
            assert "number" in response.json()["errors"]
    assert Invoice.objects.filter(number="2026-RACE").count() == 1
    assert InvoiceLine.objects.count() == 1


def test_an_edit_checked_against_a_draft_cannot_undo_a_send_that_committed_first(
    live_server, tenant
):
    invoice = InvoiceFactory(tenant=tenant, number="2026-SEND")
    line(invoice, "Design", 1, 100, 25)
    url = f"{live_server.url}/api/v1/invoices/{invoice.pk}"
    headers = {"Authorization": f"Bearer {api_key_for(tenant)}"}
    responses = {}

    def patch(name, body):
        with httpx.Client(timeout=60) as client:
            responses[name] = client.patch(url, json=body, headers=headers)

    edit = {"lines": [{"description": "Changed", "quantity": "1", "unit_price": "1"}]}
    # The send, then the edit, arrive while a slow transaction holds the row.
    _in_turn_while_held(
        invoice.pk, partial(patch, "send", {"status": "sent"}), partial(patch, "edit", edit)
    )

    assert responses["send"].status_code == 200
    assert responses["edit"].status_code == 409, responses["edit"].text
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.SENT
    assert list(invoice.lines.values_list("description", flat=True)) == ["Design"]


def test_a_workspace_renamed_while_a_pdf_is_recorded_deadlocks_neither(tenant):
    drafts = []
    for number in ("2026-A", "2026-B"):
        invoice = InvoiceFactory(tenant=tenant, number=number)
        line(invoice, "Design", 1, 100, 25)
        invoice.pdf_status, invoice.content_hash = "ready", invoice.content_fingerprint()
        invoice.save(update_fields=["pdf_status", "content_hash"])
        drafts.append(invoice)
    errors = []

    def atomically(work):
        def run():
            try:
                with transaction.atomic():
                    work()
            except Exception as exc:  # noqa: BLE001 - the test asserts there was none
                errors.append(exc)
            finally:
                connection.close()

        return run

    def rename():
        workspace = Tenant.objects.get(pk=tenant.pk)
        workspace.name = "Renamed AS"
        workspace.save()

    def record():
        invoice_pdf_saved(
            invoice_id=drafts[0].pk, name="invoices/x.pdf", fingerprint=drafts[0].content_hash
        )

    # The newest draft is held: the rename's renders take it first (invoices list newest first)
    # and wait for it while a render of the other draft is recorded.
    _in_turn_while_held(drafts[1].pk, atomically(rename), atomically(record))
    assert errors == []
    assert Tenant.objects.get(pk=tenant.pk).name == "Renamed AS"


def _in_turn_while_held(invoice_pk: int, *calls) -> None:
    """Start each call in a thread of its own, the next once it waits for a lock (or has ended),
    while another session holds the invoice's row (as any slow transaction would); then release it
    and wait for them."""
    database = connection.settings_dict
    with psycopg.connect(
        host=database["HOST"],
        port=database["PORT"] or 5432,
        user=database["USER"],
        dbname=database["NAME"],
    ) as holder:
        holder.execute("SELECT 1 FROM invoices_invoice WHERE id = %s FOR UPDATE", [invoice_pk])
        threads = []
        for call in calls:
            waiting = sessions_waiting_for_a_lock()
            thread = threading.Thread(target=call)
            threads.append(thread)
            thread.start()
            wait_for(
                lambda thread=thread, waiting=waiting: (
                    sessions_waiting_for_a_lock() > waiting or not thread.is_alive()
                ),
                timeout=60,
                message=f"call {len(threads)} to wait for a lock or end",
            )
        holder.commit()
    for thread in threads:
        thread.join(30)
