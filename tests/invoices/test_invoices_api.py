import io

import pytest
from pypdf import PdfReader

from invoices.models import Invoice
from jobs.models import Job
from tests.invoices.factories import ClientFactory, InvoiceFactory, line
from tests.worker import running_worker, wait_for

INVOICE = {
    "number": "2026-0001",
    "issue_date": "2026-11-01",
    "due_date": "2026-11-30",
    "currency": "EUR",
    "notes": "Thank you!",
    "lines": [
        {"description": "Development", "quantity": "12", "unit_price": "110.00", "vat_rate": "21"},
        {"description": "Hosting", "quantity": "1", "unit_price": "49.90", "vat_rate": "21"},
    ],
}


def test_create_an_invoice_with_lines_queues_its_pdf(
    api_client, tenant, django_capture_on_commit_callbacks
):
    client = api_client.post(
        "/api/v1/clients", {"name": "Kanal Studio", "vat_number": "NL001"}, format="json"
    ).json()
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_client.post(
            "/api/v1/invoices", {**INVOICE, "client": client["id"]}, format="json"
        )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["subtotal"], body["total"]) == ("1369.90", "1657.58")
    assert body["vat"] == [{"rate": "21.00", "base": "1369.90", "vat": "287.68"}]
    assert body["pdf_status"] == "pending" and body["pdf_url"] is None
    assert Job.objects.filter(type="invoice_pdf").count() == 1
    assert len(callbacks) == 1


def test_updating_lines_replaces_them(api_client, tenant):
    invoice = api_client.post("/api/v1/invoices", INVOICE, format="json").json()
    response = api_client.patch(
        f"/api/v1/invoices/{invoice['id']}",
        {"lines": [{"description": "Only this", "quantity": "1", "unit_price": "10"}]},
        format="json",
    )
    assert response.status_code == 200
    assert [item["description"] for item in response.json()["lines"]] == ["Only this"]
    assert Job.objects.filter(type="invoice_pdf").count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "euro"}, "currency"),
        ({"due_date": "2026-10-01"}, "due_date"),
        ({"lines": [{"description": "x", "quantity": "-1", "unit_price": "1"}]}, "lines"),
        (
            {
                "lines": [
                    {"description": "x", "quantity": "1", "unit_price": "1", "vat_rate": "150"}
                ]
            },
            "lines",
        ),
        ({"number": ""}, "number"),
    ],
)
def test_bad_invoices_are_400_and_write_nothing(api_client, change, field):
    response = api_client.post("/api/v1/invoices", {**INVOICE, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Invoice.objects.exists() and not Job.objects.exists()


def test_an_invoice_number_is_unique_per_workspace(api_client, other_api_client):
    assert api_client.post("/api/v1/invoices", INVOICE, format="json").status_code == 201
    again = api_client.post("/api/v1/invoices", INVOICE, format="json")
    assert again.status_code == 400 and "number" in again.json()["errors"]
    assert other_api_client.post("/api/v1/invoices", INVOICE, format="json").status_code == 201


def test_the_pdf_is_404_until_it_is_rendered(api_client, tenant):
    invoice = InvoiceFactory(tenant=tenant)
    response = api_client.get(f"/api/v1/invoices/{invoice.pk}/pdf")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def test_another_workspaces_invoice_client_and_pdf_are_not_found(api_client, other_tenant):
    theirs = InvoiceFactory(tenant=other_tenant)
    line(theirs, "Secret", 1, 1, 0)
    from django.core.management import call_command

    call_command("render_invoice_pdf", str(theirs.pk), stdout=io.StringIO())
    for path in (
        f"/api/v1/invoices/{theirs.pk}",
        f"/api/v1/invoices/{theirs.pk}/pdf",
        f"/api/v1/clients/{theirs.client_id}",
    ):
        assert api_client.get(path).status_code == 404, path
    assert (
        api_client.patch(f"/api/v1/invoices/{theirs.pk}", {"notes": "x"}, format="json").status_code
        == 404
    )
    mine = api_client.post(
        "/api/v1/invoices", {**INVOICE, "client": theirs.client_id}, format="json"
    )
    assert mine.status_code == 400 and "client" in mine.json()["errors"]
    assert api_client.get("/api/v1/invoices").json()["results"] == []


@pytest.mark.django_db(transaction=True)
def test_an_invoice_created_over_the_api_is_rendered_by_a_worker_and_downloaded(
    api_client, tenant, settings
):
    settings.INVOICE_PDF_DEBOUNCE_SECONDS = 0
    client = ClientFactory(tenant=tenant, name="Nordlys Consulting")
    with running_worker(extra_env={"INVOICE_PDF_DEBOUNCE_SECONDS": "0"}):
        created = api_client.post(
            "/api/v1/invoices", {**INVOICE, "client": client.pk}, format="json"
        ).json()
        wait_for(
            lambda: Invoice.objects.get(pk=created["id"]).pdf_status == "ready",
            timeout=90,
            message="pdf ready",
        )
    detail = api_client.get(f"/api/v1/invoices/{created['id']}").json()
    assert detail["pdf_url"].endswith(f"/api/v1/invoices/{created['id']}/pdf")
    response = api_client.get(f"/api/v1/invoices/{created['id']}/pdf")
    assert response["Content-Type"] == "application/pdf"
    text = PdfReader(io.BytesIO(b"".join(response.streaming_content))).pages[0].extract_text()
    assert "2026-0001" in text and "Nordlys Consulting" in text and "1657.58 EUR" in text


def test_only_a_draft_is_deleted_with_its_pdf_and_its_waiting_render(
    api_client, tenant, django_capture_on_commit_callbacks
):
    from django.core.files.storage import default_storage
    from django.core.management import call_command

    sent = InvoiceFactory(tenant=tenant, number="2026-0900", status=Invoice.Status.SENT)
    refused = api_client.delete(f"/api/v1/invoices/{sent.pk}")
    assert refused.status_code == 409
    assert "void" in refused.json()["detail"]
    assert Invoice.objects.filter(pk=sent.pk).exists()

    draft = api_client.post("/api/v1/invoices", {**INVOICE, "number": "2026-0901"}, format="json")
    draft_id = draft.json()["id"]
    call_command("render_invoice_pdf", str(draft_id), stdout=io.StringIO())
    stored = Invoice.objects.get(pk=draft_id).pdf_file.name
    assert default_storage.exists(stored)
    api_client.patch(f"/api/v1/invoices/{draft_id}", {"notes": "Changed"}, format="json")
    waiting = Invoice.objects.get(pk=draft_id).pdf_job
    assert waiting.status == Job.Status.PENDING

    with django_capture_on_commit_callbacks(execute=True):
        assert api_client.delete(f"/api/v1/invoices/{draft_id}").status_code == 204
    assert not Invoice.objects.filter(pk=draft_id).exists()
    assert not default_storage.exists(stored)
    waiting.refresh_from_db()
    assert waiting.status == Job.Status.CANCELED


def test_a_client_with_invoices_is_409_not_a_server_error(api_client, tenant):
    billed, unbilled = ClientFactory(tenant=tenant), ClientFactory(tenant=tenant)
    InvoiceFactory(tenant=tenant, client=billed)
    refused = api_client.delete(f"/api/v1/clients/{billed.pk}")
    assert refused.status_code == 409
    assert refused.json()["code"] == "CONFLICT"
    assert refused.json()["detail"].endswith("(1 invoice).")
    assert api_client.delete(f"/api/v1/clients/{unbilled.pk}").status_code == 204


def test_a_sent_invoice_only_moves_forward_and_its_content_is_frozen(api_client, tenant):
    created = api_client.post("/api/v1/invoices", {**INVOICE, "number": "2026-0950"}, format="json")
    url = f"/api/v1/invoices/{created.json()['id']}"
    assert (
        api_client.patch(url, {"notes": "Draft edits are fine"}, format="json").status_code == 200
    )
    assert api_client.patch(url, {"status": "sent"}, format="json").json()["status"] == "sent"

    for change in [{"notes": "Too late"}, {"lines": []}, {"currency": "USD", "status": "paid"}]:
        refused = api_client.patch(url, change, format="json")
        assert refused.status_code == 409, change
        assert "only its status can change" in refused.json()["detail"]
    unchanged = api_client.get(url).json()
    put = api_client.put(
        url,
        {**INVOICE, "number": "2026-0950", "notes": unchanged["notes"], "status": "paid"},
        format="json",
    )
    assert put.status_code == 200 and put.json()["status"] == "paid"

    backwards = api_client.patch(url, {"status": "draft"}, format="json")
    assert backwards.status_code == 409 and "cannot become draft" in backwards.json()["detail"]
    assert api_client.patch(url, {"status": "void"}, format="json").json()["status"] == "void"
    assert api_client.patch(url, {"status": "paid"}, format="json").status_code == 409
    final = Invoice.objects.get(pk=created.json()["id"])
    assert (final.status, final.notes, final.lines.count()) == ("void", "Draft edits are fine", 2)
