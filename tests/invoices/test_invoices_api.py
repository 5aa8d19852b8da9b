import io
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from pypdf import PdfReader

from invoices.models import Invoice, InvoiceLine
from jobs.models import Job
from tests.budgets.factories import ProjectFactory
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
        {"lines": [{"description": "Only this", "quantity": "2", "unit_price": "10"}]},
        format="json",
    )
    assert response.status_code == 200
    assert [item["description"] for item in response.json()["lines"]] == ["Only this"]
    # A line is whole: what it leaves out (as the schema allows) is quantity 1 and VAT 0.
    response = api_client.patch(
        f"/api/v1/invoices/{invoice['id']}",
        {"lines": [{"description": "A flat fee", "unit_price": "10"}]},
        format="json",
    )
    assert response.status_code == 200
    ((line),) = response.json()["lines"]
    assert (line["quantity"], line["vat_rate"], line["amount"]) == ("1.000", "0.00", "10.00")
    missing = api_client.patch(
        f"/api/v1/invoices/{invoice['id']}", {"lines": [{"unit_price": "10"}]}, format="json"
    )
    assert missing.json()["errors"] == {"lines": [{"description": ["This field is required."]}]}
    assert Job.objects.filter(type="invoice_pdf").count() == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "euro"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
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
        ({"lines": [{"description": "x" * 1001, "unit_price": "1"}]}, "lines"),
        ({"lines": [{"description": "x", "unit_price": "1"}] * 1001}, "lines"),
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


def test_a_client_that_accepts_only_pdf_downloads_it_and_is_refused_in_json(api_client, tenant):
    invoice = InvoiceFactory(tenant=tenant, number="2026-0007")
    line(invoice, "Design", 1, 100, 25)
    pdf_url = f"/api/v1/invoices/{invoice.pk}/pdf"
    not_yet = api_client.get(pdf_url, HTTP_ACCEPT="application/pdf")
    assert (not_yet.status_code, not_yet["Content-Type"]) == (404, "application/problem+json")
    assert not_yet.json()["code"] == "NOT_FOUND"
    call_command("render_invoice_pdf", str(invoice.pk), stdout=io.StringIO())
    response = api_client.get(pdf_url, HTTP_ACCEPT="application/pdf")
    assert (response.status_code, response["Content-Type"]) == (200, "application/pdf")
    text = PdfReader(io.BytesIO(b"".join(response.streaming_content))).pages[0].extract_text()
    assert "2026-0007" in text
    assert api_client.get(pdf_url, HTTP_ACCEPT="text/html").status_code == 406


def _without_request_id(response) -> tuple:
    body = {name: value for name, value in response.json().items() if name != "request_id"}
    return response.status_code, response["Content-Type"], body


def test_the_pdf_goes_to_clients_that_accept_it_and_others_get_the_apis_406(api_client, tenant):
    invoice = InvoiceFactory(tenant=tenant, number="2026-0008")
    line(invoice, "Design", 1, 100, 25)
    call_command("render_invoice_pdf", str(invoice.pk), stdout=io.StringIO())
    pdf_url = f"/api/v1/invoices/{invoice.pk}/pdf"
    elsewhere = api_client.get(f"/api/v1/invoices/{invoice.pk}", HTTP_ACCEPT="text/html")
    assert elsewhere.status_code == 406

    for accept in [
        "application/json",
        "application/pdf;q=0",
        "application/pdf; q=0.000, */*",
        "text/html, */*;q=0",
        "application/problem+json",
    ]:
        refused = api_client.get(pdf_url, HTTP_ACCEPT=accept)
        assert _without_request_id(refused) == _without_request_id(elsewhere), accept
        assert "RateLimit" not in refused, accept

    for accept in [
        None,
        "*/*",
        "application/*",
        "APPLICATION/PDF",
        "text/html, application/*;q=0.1",
    ]:
        response = api_client.get(pdf_url, **({} if accept is None else {"HTTP_ACCEPT": accept}))
        assert (response.status_code, response["Content-Type"]) == (200, "application/pdf"), accept
        text = PdfReader(io.BytesIO(b"".join(response.streaming_content))).pages[0].extract_text()
        assert "2026-0008" in text


def test_an_invoice_pdf_costs_no_credits_whatever_job_credit_costs_says(
    api_client, tenant, settings
):
    settings.JOB_CREDIT_COSTS = {"invoice_pdf": 1000}
    created = api_client.post("/api/v1/invoices", INVOICE, format="json")
    assert created.status_code == 201, created.json()
    changed = api_client.patch(
        f"/api/v1/invoices/{created.json()['id']}", {"notes": "Changed"}, format="json"
    )
    assert changed.status_code == 200
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100
    assert Job.objects.get(type="invoice_pdf").credits_charged == 0


def test_the_list_filters_by_status_client_and_project(api_client, tenant, other_tenant):
    from tests.budgets.factories import ProjectFactory

    project = ProjectFactory(tenant=tenant)
    draft = InvoiceFactory(tenant=tenant, project=project)
    paid = InvoiceFactory(tenant=tenant, status=Invoice.Status.PAID)
    foreign = InvoiceFactory(tenant=other_tenant, status=Invoice.Status.PAID)

    def listed(query):
        response = api_client.get(f"/api/v1/invoices?{query}")
        assert response.status_code == 200, response.json()
        return {invoice["id"] for invoice in response.json()["results"]}

    assert listed("status=paid") == {paid.pk}
    assert listed(f"client={draft.client_id}") == {draft.pk}
    assert listed(f"project={project.pk}&status=draft") == {draft.pk}
    assert listed(f"client={foreign.client_id}") == set()
    for bad in ["status=bogus", "status=", "client=abc", "project=0"]:
        refused = api_client.get(f"/api/v1/invoices?{bad}")
        assert refused.status_code == 400, bad
        assert list(refused.json()["errors"]) == [bad.split("=")[0]]


def test_clients_are_searched_by_name_in_any_case(api_client, tenant, other_tenant):
    kanal, _ = (ClientFactory(tenant=tenant, name=name) for name in ("Kanal Studio", "Fjord AS"))
    ClientFactory(tenant=other_tenant, name="Kanal Bar")

    def listed(query):
        response = api_client.get(f"/api/v1/clients?{query}")
        assert response.status_code == 200, response.json()
        return [client["id"] for client in response.json()["results"]]

    assert listed("search=kanal") == [kanal.pk]
    assert listed("search=%25") == []
    for bad in ["search=", "search=%20", f"search={'x' * 201}"]:
        refused = api_client.get(f"/api/v1/clients?{bad}")
        assert (refused.status_code, list(refused.json()["errors"])) == (400, ["search"])


def test_a_client_or_project_id_with_a_fraction_is_400_and_creates_nothing(api_client, tenant):
    client, project = ClientFactory(tenant=tenant), ProjectFactory(tenant=tenant)
    response = api_client.post(
        "/api/v1/invoices",
        {"number": "INV-1", "client": client.pk + 0.7, "project": project.pk + 0.9},
        format="json",
    )
    assert response.status_code == 400
    assert sorted(response.json()["errors"]) == ["client", "project"]
    assert not Invoice.objects.exists()


def test_another_workspaces_invoice_client_and_pdf_are_not_found(api_client, other_tenant):
    theirs = InvoiceFactory(tenant=other_tenant)
    line(theirs, "Secret", 1, 1, 0)
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
    # Renders are background work: a worker that takes only the batch queue renders them.
    with running_worker(queues="batch", extra_env={"INVOICE_PDF_DEBOUNCE_SECONDS": "0"}):
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


def test_a_line_description_of_a_thousand_characters_is_kept(api_client):
    description = "x" * 1000
    response = api_client.post(
        "/api/v1/invoices",
        {**INVOICE, "lines": [{"description": description, "unit_price": "1"}]},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["lines"][0]["description"] == description
    too_long = api_client.patch(
        f"/api/v1/invoices/{response.json()['id']}",
        {"lines": [{"description": description + "x", "unit_price": "1"}]},
        format="json",
    )
    assert too_long.json()["errors"] == {
        "lines": [{"description": ["Ensure this field has no more than 1000 characters."]}]
    }
    assert InvoiceLine.objects.get().description == description


def test_the_largest_storable_line_is_answered_listed_and_shown(api_client, tenant):
    largest = {"description": "x", "quantity": "999999999.999", "unit_price": "999999999999.99"}
    created = api_client.post(
        "/api/v1/invoices", {"number": "BIG-1", "lines": [largest]}, format="json"
    )
    assert created.status_code == 201, created.json()
    assert created.json()["lines"][0]["amount"] == "999999999998990000000.00"
    assert created.json()["total"] == "999999999998990000000.00"
    listed = api_client.get("/api/v1/invoices")
    assert listed.status_code == 200
    assert listed.json()["results"][0]["subtotal"] == "999999999998990000000.00"
    shown = api_client.get(f"/api/v1/invoices/{created.json()['id']}")
    assert shown.status_code == 200
    assert shown.json()["vat"] == [
        {"rate": "0.00", "base": "999999999998990000000.00", "vat": "0.00"}
    ]


@pytest.mark.parametrize("number", ["2026\n0001", "2026\r0001", "2026\t0001", "A\u202eB"])
def test_a_number_with_a_control_character_is_400_and_writes_nothing(api_client, tenant, number):
    created = api_client.post("/api/v1/invoices", {**INVOICE, "number": number}, format="json")
    assert created.status_code == 400
    assert "number" in created.json()["errors"]
    assert not Invoice.objects.exists() and not Job.objects.exists()

    invoice = InvoiceFactory(tenant=tenant, number="2026-0001")
    renamed = api_client.patch(f"/api/v1/invoices/{invoice.pk}", {"number": number}, format="json")
    assert renamed.status_code == 400 and "number" in renamed.json()["errors"]
    invoice.refresh_from_db()
    assert invoice.number == "2026-0001"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        # An override shows "Fee 00.001" for "Fee 100.00" stored; a bell or an escape in the PDF.
        ({"lines": [{"description": "Fee \u202e00.001", "unit_price": "1"}]}, "lines"),
        ({"lines": [{"description": "Fee\x1b[2J", "unit_price": "1"}]}, "lines"),
        ({"notes": "Pay to \u2067IBAN\u2069"}, "notes"),
    ],
)
def test_text_that_would_print_other_than_stored_is_400_and_writes_nothing(
    api_client, change, field
):
    response = api_client.post("/api/v1/invoices", {**INVOICE, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]
    assert not Invoice.objects.exists() and not Job.objects.exists()


def test_a_clients_details_refuse_overrides_and_keep_line_breaks_joiners_and_marks(api_client):
    for name, field in [("Acme\u202e", "name"), ("Acme\nLtd", "name")]:
        refused = api_client.post("/api/v1/clients", {"name": name}, format="json")
        assert refused.status_code == 400 and field in refused.json()["errors"]
    refused = api_client.post(
        "/api/v1/clients", {"name": "Acme", "vat_number": "NL\u202d123"}, format="json"
    )
    assert refused.status_code == 400 and "vat_number" in refused.json()["errors"]
    assert api_client.get("/api/v1/clients").json()["results"] == []

    client = {
        "name": "\u0634\u0631\u0643\u0629\u200f Acme \U0001f468\u200d\U0001f469\u200d\U0001f467",
        "address": "Main Street 1\r\n1000 AA\tAmsterdam",
    }
    created = api_client.post("/api/v1/clients", client, format="json")
    assert created.status_code == 201, created.json()
    assert {key: created.json()[key] for key in client} == client
    invoice = api_client.post(
        "/api/v1/invoices",
        {**INVOICE, "client": created.json()["id"], "notes": "Line one\nLine two"},
        format="json",
    )
    assert invoice.status_code == 201, invoice.json()


@pytest.mark.parametrize("currency", ["XXX", "XTS"])
def test_the_codes_for_no_currency_and_testing_are_refused(api_client, currency):
    response = api_client.post(
        "/api/v1/invoices", {"number": "2026-0001", "currency": currency}, format="json"
    )
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["currency"]
    assert not Invoice.objects.exists()


@pytest.mark.parametrize(
    ("number", "disposition"),
    [
        ("2026-0001", 'inline; filename="invoice-2026-0001.pdf"'),
        ('Q"1', r'inline; filename="invoice-Q\"1.pdf"'),
        ("Fakt-€1", "inline; filename*=utf-8''invoice-Fakt-%E2%82%AC1.pdf"),
        ("INV/2026/0042", 'inline; filename="invoice-INV-2026-0042.pdf"'),
        ("A\\B", 'inline; filename="invoice-A-B.pdf"'),
        # Stored before numbers were checked: it still downloads.
        ("2026\n0001", "inline; filename*=utf-8''invoice-2026%0A0001.pdf"),
    ],
)
def test_the_pdf_download_names_its_file_safely_whatever_the_number(
    api_client, tenant, number, disposition
):
    invoice = InvoiceFactory(tenant=tenant, number=number)
    line(invoice, "Design", 1, 100, 25)
    call_command("render_invoice_pdf", str(invoice.pk), stdout=io.StringIO())
    response = api_client.get(f"/api/v1/invoices/{invoice.pk}/pdf")
    assert response.status_code == 200
    assert response["Content-Disposition"] == disposition
    pdf = PdfReader(io.BytesIO(b"".join(response.streaming_content)))
    assert "125.00 NOK" in pdf.pages[0].extract_text()


def _number_taken_after_validation(monkeypatch, tenant, number):
    """Another request's invoice with this number commits after ours passed validation."""
    from invoices.api.serializers import InvoiceSerializer

    validate = InvoiceSerializer.validate

    def validate_then_lose_the_race(serializer, attrs):
        attrs = validate(serializer, attrs)
        InvoiceFactory(tenant=tenant, number=number, notes="The winner")
        return attrs

    monkeypatch.setattr(InvoiceSerializer, "validate", validate_then_lose_the_race)


def test_a_number_taken_between_validation_and_insert_is_409_and_writes_nothing(
    api_client, tenant, monkeypatch
):
    _number_taken_after_validation(monkeypatch, tenant, INVOICE["number"])
    response = api_client.post("/api/v1/invoices", INVOICE, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert "'2026-0001'" in response.json()["detail"]
    assert [invoice.notes for invoice in Invoice.objects.all()] == ["The winner"]
    assert not InvoiceLine.objects.exists() and not Job.objects.exists()


def test_renumbering_to_a_number_taken_meanwhile_is_409_and_changes_nothing(
    api_client, tenant, monkeypatch
):
    invoice = InvoiceFactory(tenant=tenant, number="2026-0001", notes="Mine")
    line(invoice, "Design", 1, 100, 25)
    _number_taken_after_validation(monkeypatch, tenant, "2026-0002")
    response = api_client.patch(
        f"/api/v1/invoices/{invoice.pk}",
        {"number": "2026-0002", "notes": "Renumbered", "lines": []},
        format="json",
    )
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT" and "'2026-0002'" in response.json()["detail"]
    invoice.refresh_from_db()
    assert (invoice.number, invoice.notes, invoice.lines.count()) == ("2026-0001", "Mine", 1)
    assert not Job.objects.exists()


def _sent_invoice(api_client, lines) -> str:
    created = api_client.post(
        "/api/v1/invoices", {**INVOICE, "number": "2026-0960", "lines": lines}, format="json"
    )
    url = f"/api/v1/invoices/{created.json()['id']}"
    assert api_client.patch(url, {"status": "sent"}, format="json").status_code == 200
    return url


def test_a_sent_invoices_lines_cannot_be_reordered(api_client, tenant):
    url = _sent_invoice(api_client, INVOICE["lines"])
    first, second = api_client.get(url).json()["lines"]
    unnumbered = [{k: v for k, v in item.items() if k != "sort_order"} for item in (first, second)]
    for lines in [
        [{**first, "sort_order": 9}, {**second, "sort_order": 1}],
        [unnumbered[1], unnumbered[0]],
        [{**first, "sort_order": 1}, {**second, "sort_order": 1}],
    ]:
        refused = api_client.patch(url, {"status": "paid", "lines": lines}, format="json")
        assert refused.status_code == 409, lines
        assert refused.json()["detail"].startswith("The invoice is sent") and (
            "(not lines)" in refused.json()["detail"]
        )
    invoice = Invoice.objects.get(number="2026-0960")
    assert invoice.status == "sent"
    assert [(item.sort_order, item.description) for item in invoice.ordered_lines] == [
        (0, "Development"),
        (1, "Hosting"),
    ]


@pytest.mark.parametrize("resent", ["as_returned", "as_first_posted"])
def test_a_sent_invoices_unchanged_lines_may_come_with_its_status_change(
    api_client, tenant, resent
):
    posted = [
        {"description": "Development", "quantity": "12", "unit_price": "110"},
        {"description": "Hosting", "quantity": "1", "unit_price": "49.90"},
    ]
    url = _sent_invoice(api_client, posted)
    stored = list(Invoice.objects.get(number="2026-0960").lines.values_list("pk", flat=True))
    lines = api_client.get(url).json()["lines"] if resent == "as_returned" else posted
    response = api_client.patch(url, {"status": "paid", "lines": lines}, format="json")
    assert response.status_code == 200, response.json()
    invoice = Invoice.objects.get(number="2026-0960")
    assert invoice.status == "paid"
    assert [item.pk for item in invoice.ordered_lines] == stored


def test_a_line_missing_its_price_is_400_even_in_a_patch(api_client, tenant):
    created = api_client.post("/api/v1/invoices", INVOICE, format="json").json()
    response = api_client.patch(
        f"/api/v1/invoices/{created['id']}", {"lines": [{"description": "x"}]}, format="json"
    )
    assert response.status_code == 400
    assert "lines" in response.json()["errors"]
    invoice = Invoice.objects.get(pk=created["id"])
    assert [item.description for item in invoice.ordered_lines] == ["Development", "Hosting"]


def test_changing_an_invoices_lines_is_in_the_audit_log_before_and_after(api_client, tenant):
    from accounts.models import AuditEvent

    created = api_client.post("/api/v1/invoices", INVOICE, format="json").json()
    url = f"/api/v1/invoices/{created['id']}"
    more = {
        "description": "Development",
        "quantity": "120",
        "unit_price": "110.00",
        "vat_rate": "21",
    }
    changed = api_client.patch(url, {"lines": [more]}, format="json")
    assert changed.json()["total"] == "15972.00"
    api_client.patch(url, {"lines": [more]}, format="json")  # the same lines again: no change

    events = AuditEvent.objects.filter(resource_type="invoices.invoice", resource_id=created["id"])
    assert [line["quantity"] for line in events.get(action="create").new_values["lines"]] == [
        "12.000",
        "1.000",
    ]
    update = events.get(action="update")
    assert update.changed_fields == ["lines"]
    assert [line["description"] for line in update.old_values["lines"]] == [
        "Development",
        "Hosting",
    ]
    assert update.new_values["lines"] == [
        {
            "sort_order": 0,
            "description": "Development",
            "quantity": "120.000",
            "unit_price": "110.00",
            "vat_rate": "21.00",
        }
    ]


def test_a_discount_line_without_vat_shows_no_negative_zero(api_client):
    discount = {"description": "Discount", "quantity": "1", "unit_price": "-5.00", "vat_rate": "0"}
    body = api_client.post(
        "/api/v1/invoices", {**INVOICE, "lines": [*INVOICE["lines"], discount]}, format="json"
    ).json()
    assert body["vat"][0] == {"rate": "0.00", "base": "-5.00", "vat": "0.00"}


@pytest.mark.django_db(transaction=True)
def test_an_invoice_created_as_its_client_is_deleted_is_a_conflict(api_client, tenant, monkeypatch):
    from invoices.api.serializers import InvoiceSerializer
    from tests.concurrency import deleted_once_validated

    client = ClientFactory(tenant=tenant)
    deleted_once_validated(monkeypatch, InvoiceSerializer, client)
    response = api_client.post("/api/v1/invoices", {**INVOICE, "client": client.pk}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert not Invoice.objects.exists() and not InvoiceLine.objects.exists()


# Each line's amount, the VAT rows (rate, base, VAT), the subtotal and the total, per currency.
ROUNDED_PER_CURRENCY = {
    # Whole yen, half up on each line: 3 × 12.50 is 38, and 10 % of it 4.
    "JPY": (
        ["38", "999", "2"],
        [("0.00", "2", "0"), ("8.00", "999", "80"), ("10.00", "38", "4")],
        ("1039", "1123"),
    ),
    "EUR": (
        ["37.50", "999.00", "1.50"],
        [("0.00", "1.50", "0.00"), ("8.00", "999.00", "79.92"), ("10.00", "37.50", "3.75")],
        ("1038.00", "1121.67"),
    ),
    # The dinar's three decimals (fils).
    "KWD": (
        ["37.500", "999.000", "1.500"],
        [("0.00", "1.500", "0.000"), ("8.00", "999.000", "79.920"), ("10.00", "37.500", "3.750")],
        ("1038.000", "1121.670"),
    ),
}


def test_amounts_are_rounded_per_line_and_shown_at_the_currencys_precision(api_client):
    lines = [
        {"description": "Stickers", "quantity": "3", "unit_price": "12.50", "vat_rate": "10"},
        {"description": "Books", "quantity": "3", "unit_price": "333", "vat_rate": "8"},
        {"description": "Pins", "quantity": "3", "unit_price": "0.50", "vat_rate": "0"},
    ]
    for currency, (amounts, vat, (subtotal, total)) in ROUNDED_PER_CURRENCY.items():
        created = api_client.post(
            "/api/v1/invoices",
            {"number": f"2026-{currency}", "currency": currency, "lines": lines},
            format="json",
        )
        assert created.status_code == 201, created.json()
        for body in (
            created.json(),
            api_client.get(f"/api/v1/invoices/{created.json()['id']}").json(),
        ):
            assert [item["amount"] for item in body["lines"]] == amounts, currency
            assert [item["unit_price"] for item in body["lines"]] == ["12.50", "333.00", "0.50"]
            assert [(row["rate"], row["base"], row["vat"]) for row in body["vat"]] == vat, currency
            assert (body["subtotal"], body["total"]) == (subtotal, total), currency


def test_a_discount_in_yen_rounding_to_nothing_shows_no_negative_zero(api_client):
    discount = {"description": "Discount", "quantity": "1", "unit_price": "-0.40", "vat_rate": "0"}
    body = api_client.post(
        "/api/v1/invoices",
        {"number": "2026-0001", "currency": "JPY", "lines": [discount]},
        format="json",
    ).json()
    assert body["lines"][0]["amount"] == "0"
    assert body["vat"] == [{"rate": "0.00", "base": "0", "vat": "0"}]


def test_the_largest_amounts_are_exact_in_a_currency_of_four_decimals(api_client):
    # Each line the most its quantity and unit price allow, at 100 % VAT: a total of 29 digits
    # (25 before the Chilean Unidad de Fomento's 4 decimals), past the default Decimal context.
    most = {
        "description": "All of it",
        "quantity": "999999999.999",
        "unit_price": "999999999999.99",
        "vat_rate": "100",
    }
    created = api_client.post(
        "/api/v1/invoices",
        {"number": "2026-CLF", "currency": "CLF", "lines": [most] * 501},
        format="json",
    )
    assert created.status_code == 201, created.content
    subtotal = "500999999999493990000000.0000"
    for body in (created.json(), api_client.get("/api/v1/invoices").json()["results"][0]):
        assert body["lines"][0]["amount"] == "999999999998990000000.0000"
        assert body["vat"] == [{"rate": "100.00", "base": subtotal, "vat": subtotal}]
        assert (body["subtotal"], body["total"]) == (subtotal, "1001999999998987980000000.0000")


def _pdf_text(api_client, invoice_id: int) -> str:
    call_command("render_invoice_pdf", str(invoice_id), stdout=io.StringIO())
    response = api_client.get(f"/api/v1/invoices/{invoice_id}/pdf")
    assert response.status_code == 200
    pdf = PdfReader(io.BytesIO(b"".join(response.streaming_content)))
    return "\n".join(page.extract_text() for page in pdf.pages)


def _created_in(api_client, currency: str, lines: list[dict]):
    body = {"number": f"2026-{currency}", "currency": currency, "lines": lines}
    created = api_client.post("/api/v1/invoices", body, format="json")
    assert created.status_code == 201, created.json()
    return created


def test_a_dinar_price_in_fils_is_billed_and_printed_to_the_fils(api_client):
    lines = [
        {"description": "Dates", "quantity": "3", "unit_price": "1.250", "vat_rate": "5"},
        {"description": "Tea", "quantity": "7", "unit_price": "0.125", "vat_rate": "0"},
    ]
    created = _created_in(api_client, "KWD", lines)
    for body in (created.json(), api_client.get(f"/api/v1/invoices/{created.json()['id']}").json()):
        # A price is given back with the decimals it has, at least two, whatever the currency.
        assert [(item["unit_price"], item["amount"]) for item in body["lines"]] == [
            ("1.25", "3.750"),
            ("0.125", "0.875"),
        ]
        # 5 % of 3.750 is 0.1875: half up, 0.188.
        assert body["vat"] == [
            {"rate": "0.00", "base": "0.875", "vat": "0.000"},
            {"rate": "5.00", "base": "3.750", "vat": "0.188"},
        ]
        assert (body["subtotal"], body["total"]) == ("4.625", "4.813")
    text = _pdf_text(api_client, created.json()["id"])
    assert "Dates 3 1.250 5 3.750" in text and "7 0.125 0 0.875" in text
    assert "VAT 5 % on 3.750 0.188 KWD" in text and "Total 4.813 KWD" in text


def test_a_price_of_four_decimals_is_billed_in_a_currency_of_four(api_client):
    lines = [
        {"description": "Rent", "quantity": "2", "unit_price": "12.3456", "vat_rate": "19"},
        {"description": "Fee", "quantity": "1", "unit_price": "0.0001", "vat_rate": "0"},
    ]
    created = _created_in(api_client, "CLF", lines)
    body = api_client.get(f"/api/v1/invoices/{created.json()['id']}").json()
    assert [(item["unit_price"], item["amount"]) for item in body["lines"]] == [
        ("12.3456", "24.6912"),
        ("0.0001", "0.0001"),
    ]
    # 19 % of 24.6912 is 4.691328.
    assert body["vat"][1] == {"rate": "19.00", "base": "24.6912", "vat": "4.6913"}
    assert (body["subtotal"], body["total"]) == ("24.6913", "29.3826")
    text = _pdf_text(api_client, body["id"])
    assert "Rent 2 12.3456 19 24.6912" in text and "Fee 1 0.0001 0 0.0001" in text


def test_a_price_of_four_decimals_bills_whole_amounts_in_a_currency_of_two(api_client):
    line_ = {"description": "API calls", "quantity": "1234", "unit_price": "0.0125"}
    created = api_client.post(
        "/api/v1/invoices",
        {"number": "2026-0001", "currency": "EUR", "lines": [line_]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    (item,) = created.json()["lines"]
    # 15.425: half up, to the cent.
    assert (item["unit_price"], item["amount"], created.json()["total"]) == (
        "0.0125",
        "15.43",
        "15.43",
    )
    assert "API calls 1234 0.0125 0 15.43" in _pdf_text(api_client, created.json()["id"])


def test_a_price_of_five_decimals_is_400_naming_the_limit_and_writes_nothing(api_client, tenant):
    fine = {"description": "Fine", "unit_price": "1.2345"}
    finer = {"description": "Too fine", "unit_price": "1.23456"}
    refused = api_client.post(
        "/api/v1/invoices", {**INVOICE, "lines": [fine, finer]}, format="json"
    )
    assert refused.status_code == 400
    assert refused.json()["code"] == "INVALID_REQUEST"
    assert refused.json()["errors"] == {
        "lines": [{}, {"unit_price": ["Ensure that there are no more than 4 decimal places."]}]
    }
    assert not Invoice.objects.exists() and not Job.objects.exists()

    invoice = InvoiceFactory(tenant=tenant)
    line(invoice, "Design", 1, "110.00", 25)
    patched = api_client.patch(f"/api/v1/invoices/{invoice.pk}", {"lines": [finer]}, format="json")
    assert patched.status_code == 400
    assert "unit_price" in patched.json()["errors"]["lines"][0]
    assert list(invoice.lines.values_list("description", "unit_price")) == [
        ("Design", Decimal("110.00"))
    ]


def test_a_price_of_two_decimals_reads_as_it_always_did(api_client, tenant):
    invoice = InvoiceFactory(tenant=tenant, currency="EUR")
    line(invoice, "Development", 12, "110.00", 21)
    line(invoice, "Pins", 3, "0.5", 0, order=1)
    line(invoice, "Discount", 1, "-5", 0, order=2)
    url = f"/api/v1/invoices/{invoice.pk}"
    for body in (
        api_client.get(url).json(),
        api_client.get("/api/v1/invoices").json()["results"][0],
    ):
        assert [item["unit_price"] for item in body["lines"]] == ["110.00", "0.50", "-5.00"]
    created = api_client.post("/api/v1/invoices", {**INVOICE, "number": "2026-API"}, format="json")
    assert [item["unit_price"] for item in created.json()["lines"]] == ["110.00", "49.90"]


def test_polling_an_invoice_answers_304_until_its_pdf_is_rendered(api_client, tenant):
    client = ClientFactory(tenant=tenant)
    created = api_client.post("/api/v1/invoices", {**INVOICE, "client": client.pk}, format="json")
    url = f"/api/v1/invoices/{created.json()['id']}"
    pending = api_client.get(url)
    assert pending.json()["pdf_status"] == "pending"
    unchanged = api_client.get(url, HTTP_IF_NONE_MATCH=pending["ETag"])
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    assert unchanged["ETag"] == pending["ETag"]
    call_command("render_invoice_pdf", str(created.json()["id"]), stdout=io.StringIO())
    rendered = api_client.get(url, HTTP_IF_NONE_MATCH=pending["ETag"])
    assert rendered.status_code == 200
    assert rendered.json()["pdf_status"] == "ready"
    assert rendered["ETag"] != pending["ETag"]
    assert api_client.get(url, HTTP_IF_NONE_MATCH=rendered["ETag"]).status_code == 304


def test_an_invoice_whose_pdf_is_in_a_bucket_answers_304_while_unchanged(
    api_client, tenant, settings
):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "offload-media",
                "endpoint_url": "http://127.0.0.1:9",
                "region_name": "us-east-1",
                "access_key": "test",
                "secret_key": "test-secret",
                "querystring_auth": True,
            },
        },
    }
    invoice = InvoiceFactory(tenant=tenant)
    Invoice.objects.filter(pk=invoice.pk).update(
        pdf_file=f"invoices/{tenant.pk}/{invoice.pk}.pdf", pdf_status=Invoice.PdfStatus.READY
    )
    url = f"/api/v1/invoices/{invoice.pk}"
    first = api_client.get(url)
    assert "Signature=" in first.json()["pdf_url"]
    with time_machine.travel(timezone.now() + timedelta(seconds=5), tick=False):
        again = api_client.get(url)
        assert again.json()["pdf_url"] != first.json()["pdf_url"]
        unchanged = api_client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert (unchanged.status_code, unchanged.content) == (304, b"")
    Invoice.objects.filter(pk=invoice.pk).update(
        pdf_file=f"invoices/{tenant.pk}/{invoice.pk}_2.pdf"
    )
    assert api_client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200
