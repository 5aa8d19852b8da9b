"""The admin keeps the API's rules for invoices: only a draft's content changes, the status only
moves forward, and only a draft is deleted (with its stored PDF)."""

import html
import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from accounts.models import AuditEvent
from invoices.models import Client, Invoice
from tests.budgets.factories import ProjectFactory
from tests.invoices.factories import ClientFactory, InvoiceFactory, line


def _lines_management(invoice, total: int) -> dict:
    return {
        "lines-TOTAL_FORMS": str(total),
        "lines-INITIAL_FORMS": str(invoice.lines.count()),
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "1000",
    }


def test_a_sent_invoice_only_moves_its_status_forward_in_the_admin(admin_client, tenant):
    invoice = InvoiceFactory(tenant=tenant, status=Invoice.Status.SENT, notes="As agreed.")
    line(invoice, "Design", 10, 1000, 25)
    page = f"/admin/invoices/invoice/{invoice.pk}/change/"

    opened = admin_client.get(page)
    form = opened.context["adminform"].form
    assert set(form.fields) == {"status"}
    html = opened.content.decode()
    assert html.count("field-pdf_status") == html.count("field-number") == 1
    assert "field-pdf_file" not in html  # the file is downloaded through the PDF link
    assert [value for value, _ in form.fields["status"].choices] == ["sent", "paid", "void"]

    response = admin_client.post(
        page,
        {
            "status": "paid",
            "notes": "Rewritten.",
            "number": "X-1",
            "lines-0-description": "Changed",
            "lines-0-quantity": "99",
            **_lines_management(invoice, 1),
        },
    )
    assert response.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.status, invoice.notes, invoice.number) == ("paid", "As agreed.", invoice.number)
    assert [(item.description, item.quantity) for item in invoice.lines.all()] == [("Design", 10)]

    refused = admin_client.post(page, {"status": "draft", **_lines_management(invoice, 0)})
    assert refused.status_code == 200
    assert "status" in refused.context["adminform"].form.errors
    invoice.refresh_from_db()
    assert invoice.status == "paid"


def test_a_void_invoice_is_read_only_and_a_draft_stays_editable(admin_client, tenant):
    void = InvoiceFactory(tenant=tenant, status=Invoice.Status.VOID)
    form = admin_client.get(f"/admin/invoices/invoice/{void.pk}/change/").context["adminform"].form
    assert set(form.fields) == set()

    draft = InvoiceFactory(tenant=tenant)
    form = admin_client.get(f"/admin/invoices/invoice/{draft.pk}/change/").context["adminform"].form
    assert {"number", "notes", "status", "client"} <= set(form.fields)


def test_only_a_draft_is_deleted_in_the_admin_and_its_pdf_goes_with_it(
    admin_client, tenant, django_capture_on_commit_callbacks
):
    sent = InvoiceFactory(tenant=tenant, status=Invoice.Status.SENT)
    assert (
        admin_client.post(f"/admin/invoices/invoice/{sent.pk}/delete/", {"post": "yes"}).status_code
        == 403
    )

    draft = InvoiceFactory(tenant=tenant)
    draft.pdf_file.save("admin-delete.pdf", ContentFile(b"%PDF-1.7"))
    stored = draft.pdf_file.name
    assert default_storage.exists(stored)

    response = admin_client.post(
        "/admin/invoices/invoice/",
        {"action": "delete_selected", "_selected_action": [draft.pk, sent.pk], "post": "yes"},
    )
    # The selection holds a sent invoice: the page says why it is refused.
    assert response.status_code == 200
    page = html.unescape(response.content.decode())
    assert (
        f'{sent}: The invoice is sent; only drafts can be deleted. Set its status to "void" '
        "instead." in page
    )
    assert "permission" not in page
    assert Invoice.objects.filter(pk__in=[draft.pk, sent.pk]).count() == 2

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/invoices/invoice/",
            {"action": "delete_selected", "_selected_action": [draft.pk], "post": "yes"},
            follow=True,
        )
    assert response.status_code == 200
    assert not Invoice.objects.filter(pk=draft.pk).exists()
    assert not default_storage.exists(stored)
    assert AuditEvent.objects.filter(
        resource_id=str(draft.pk), action=AuditEvent.Action.DELETE
    ).exists()


def test_a_client_with_sent_invoices_is_refused_for_them_not_for_the_staffs_permissions(
    admin_client, api_client, tenant
):
    client = ClientFactory(tenant=tenant)
    InvoiceFactory(tenant=tenant, client=client, status=Invoice.Status.SENT)
    InvoiceFactory(tenant=tenant, client=client, status=Invoice.Status.PAID)
    refusal = "It cannot be deleted while other records refer to it (2 invoices)."

    for request in (admin_client.get, admin_client.post):
        response = request(f"/admin/invoices/client/{client.pk}/delete/", {"post": "yes"})
        assert response.status_code == 200
        page = html.unescape(response.content.decode())
        assert refusal in page and "protected related objects" in page
        assert "permission" not in page
    assert api_client.delete(f"/api/v1/clients/{client.pk}").json()["detail"] == refusal
    assert Client.objects.filter(pk=client.pk).exists()


def test_a_client_refused_for_many_invoices_lists_a_hundred_and_counts_the_rest(
    admin_client, tenant
):
    client = ClientFactory(tenant=tenant)
    InvoiceFactory.create_batch(103, tenant=tenant, client=client, status=Invoice.Status.SENT)

    response = admin_client.get(f"/admin/invoices/client/{client.pk}/delete/")

    page = html.unescape(response.content.decode())
    assert "(103 invoices)" in page
    assert len(re.findall(r'href="/admin/invoices/invoice/[^/"]+/change/"', page)) == 100
    assert "…and 3 more invoices" in page
    assert Client.objects.filter(pk=client.pk).exists()


def test_the_admin_saves_a_draft_of_hundreds_of_lines(admin_client, tenant):
    draft = InvoiceFactory(tenant=tenant, number="2026-0001")
    lines = {
        f"lines-{n}-{name}": value
        for n in range(300)
        for name, value in [
            ("sort_order", str(n)),
            ("description", f"Line {n}"),
            ("quantity", "1"),
            ("unit_price", "10.00"),
            ("vat_rate", "25"),
        ]
    }

    response = admin_client.post(
        f"/admin/invoices/invoice/{draft.pk}/change/",
        {
            "tenant": tenant.pk,
            "number": "2026-0001",
            "client": draft.client_id,
            "currency": "NOK",
            "status": "draft",
            **_lines_management(draft, 300),
            **lines,
        },
    )

    assert response.status_code == 302
    assert draft.lines.count() == 300


def test_the_admin_refuses_a_number_with_a_line_break(admin_client, tenant):
    draft = InvoiceFactory(tenant=tenant, number="2026-0001")
    response = admin_client.post(
        f"/admin/invoices/invoice/{draft.pk}/change/",
        {
            "tenant": tenant.pk,
            "number": "2026\n0002",
            "client": draft.client_id,
            "currency": "NOK",
            "status": "draft",
            **_lines_management(draft, 0),
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["number"] and "line break" in errors["number"][0]
    draft.refresh_from_db()
    assert draft.number == "2026-0001"


def test_the_admin_pdf_download_names_its_file_safely(admin_client, tenant):
    invoice = InvoiceFactory(tenant=tenant, number="Fakt-€1")
    invoice.pdf_file.save("admin-download.pdf", ContentFile(b"%PDF-1.7"))
    response = admin_client.get(f"/admin/invoices/invoice/{invoice.pk}/pdf/")
    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        "inline; filename*=utf-8''invoice-Fakt-%E2%82%AC1.pdf"
    )


def _refused_in_the_add_form(admin_client, form: dict):
    response = admin_client.post(
        "/admin/invoices/invoice/add/",
        {"lines-TOTAL_FORMS": "0", "lines-INITIAL_FORMS": "0", **form},
    )
    assert response.status_code == 200
    assert not Invoice.objects.filter(number=form["number"]).exists()
    return response


def test_the_admin_refuses_another_workspaces_client_or_project(admin_client, tenant, other_tenant):
    theirs = InvoiceFactory(tenant=other_tenant)
    project = ProjectFactory(tenant=other_tenant)
    response = _refused_in_the_add_form(
        admin_client,
        {
            "tenant": tenant.pk,
            "number": "2026-X",
            "client": theirs.client.pk,
            "project": project.pk,
            "currency": "EUR",
            "status": "draft",
        },
    )
    errors = response.context["adminform"].form.errors
    assert errors["client"] == errors["project"] == ["It belongs to another workspace."]


def test_changing_a_drafts_lines_in_the_admin_is_in_the_audit_log(admin_client, tenant):
    invoice = InvoiceFactory(tenant=tenant)
    row = line(invoice, "Development", 12, "110.00", 21)
    form = {
        "tenant": tenant.pk,
        "number": invoice.number,
        "client": invoice.client_id,
        "currency": invoice.currency,
        "status": "draft",
        "lines-0-id": row.pk,
        "lines-0-invoice": invoice.pk,
        "lines-0-sort_order": "0",
        "lines-0-description": "Development",
        "lines-0-quantity": "120",
        "lines-0-unit_price": "110.00",
        "lines-0-vat_rate": "21",
        **_lines_management(invoice, 1),
    }
    response = admin_client.post(f"/admin/invoices/invoice/{invoice.pk}/change/", form)
    assert response.status_code == 302
    update = AuditEvent.objects.get(resource_id=str(invoice.pk), action=AuditEvent.Action.UPDATE)
    assert update.actor_type == AuditEvent.ActorType.USER
    assert [entry["quantity"] for entry in update.old_values["lines"]] == ["12.000"]
    assert [entry["quantity"] for entry in update.new_values["lines"]] == ["120.000"]


def test_an_invoice_added_in_the_admin_is_one_audit_event_with_its_lines(admin_client, tenant):
    response = admin_client.post(
        "/admin/invoices/invoice/add/",
        {
            "tenant": tenant.pk,
            "number": "2026-A1",
            "currency": "EUR",
            "status": "draft",
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "0",
            "lines-0-sort_order": "0",
            "lines-0-description": "Design",
            "lines-0-quantity": "3",
            "lines-0-unit_price": "100.00",
            "lines-0-vat_rate": "25",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    invoice = Invoice.objects.get(number="2026-A1")
    (event,) = AuditEvent.objects.filter(resource_type="invoices.invoice", resource_id=invoice.pk)
    assert (event.action, event.actor_type) == (AuditEvent.Action.CREATE, "user")
    assert event.new_values["number"] == "2026-A1"
    assert [(entry["description"], entry["quantity"]) for entry in event.new_values["lines"]] == [
        ("Design", "3.000")
    ]


def test_the_admin_refuses_an_invoice_the_api_refuses(admin_client, tenant):
    response = _refused_in_the_add_form(
        admin_client,
        {
            "tenant": tenant.pk,
            "number": "ADM-1",
            "currency": "eu",
            "status": "draft",
            "issue_date": "2026-11-30",
            "due_date": "2026-11-01",
            "lines-TOTAL_FORMS": "1",
            "lines-INITIAL_FORMS": "0",
            "lines-0-sort_order": "0",
            "lines-0-description": "Design",
            "lines-0-quantity": "-3",
            "lines-0-unit_price": "100.00",
            "lines-0-vat_rate": "150",
        },
    )
    errors = response.context["adminform"].form.errors
    assert errors["currency"] == ["An ISO 4217 code in capitals, such as EUR."]
    assert errors["due_date"] == ["The due date is before the issue date."]
    (line_errors,) = response.context["inline_admin_formsets"][0].formset.errors
    assert set(line_errors) == {"quantity", "vat_rate"}


def test_a_sent_invoice_stored_with_its_due_date_first_is_still_marked_paid(
    admin_client, api_client, tenant
):
    """Its dates are as it was sent, and can no longer change: only a draft's are checked."""
    invoice = InvoiceFactory(
        tenant=tenant, status=Invoice.Status.SENT, issue_date="2026-03-10", due_date="2026-03-01"
    )
    lines = {"lines-TOTAL_FORMS": "0", "lines-INITIAL_FORMS": "0"}
    page = f"/admin/invoices/invoice/{invoice.pk}/change/"
    assert admin_client.post(page, {"status": "paid", **lines}).status_code == 302
    paid = api_client.patch(f"/api/v1/invoices/{invoice.pk}", {"status": "void"}, format="json")
    assert paid.status_code == 200
    invoice.refresh_from_db()
    assert invoice.status == Invoice.Status.VOID


@pytest.mark.django_db(transaction=True)
def test_a_number_taken_by_the_api_as_the_admin_saves_comes_back_as_the_forms_error(
    admin_client, tenant, monkeypatch
):
    from django.db import connection

    from tests.concurrency import at_once

    checked, taken = Invoice.validate_constraints, []

    def check_then_lose_the_number(self, exclude=None):
        checked(self, exclude)
        if not taken:
            # A client takes the number over the API between the admin's check and its save.
            taken.extend(at_once(lambda: InvoiceFactory(tenant=tenant, number="2026-0042"), 1))
            connection.ensure_connection()

    monkeypatch.setattr(Invoice, "validate_constraints", check_then_lose_the_number)
    response = admin_client.post(
        "/admin/invoices/invoice/add/",
        {
            "tenant": tenant.pk,
            "number": "2026-0042",
            "currency": "EUR",
            "status": "draft",
            "notes": "Typed at 2 a.m.",
            "lines-TOTAL_FORMS": "0",
            "lines-INITIAL_FORMS": "0",
        },
    )

    assert response.status_code == 200
    form = response.context["adminform"].form
    assert form.data["notes"] == "Typed at 2 a.m."
    assert "already exists" in str(form.errors)
    assert Invoice.objects.filter(number="2026-0042").count() == 1


def test_an_invoices_amounts_are_shown_as_the_api_gives_them(admin_client, api_client, tenant):
    invoice = InvoiceFactory(tenant=tenant, currency="JPY")
    line(invoice, "Design", 3, "333.5", 25)
    line(invoice, "Books", 1, 1000, "12.5")
    given = api_client.get(f"/api/v1/invoices/{invoice.pk}").json()

    page = admin_client.get(f"/admin/invoices/invoice/{invoice.pk}/change/").content.decode()

    shown = [
        f"Subtotal: {given['subtotal']} JPY",
        *(
            f"VAT {rate} % on {row['base']}: {row['vat']} JPY"
            for rate, row in zip(["12.50", "25"], given["vat"], strict=True)
        ),
        f"Total: {given['total']} JPY",
    ]
    assert shown == [
        "Subtotal: 2001 JPY",
        "VAT 12.50 % on 1000: 125 JPY",
        "VAT 25 % on 1001: 250 JPY",
        "Total: 2376 JPY",
    ]
    assert "<br>".join(shown) in page


def test_a_line_priced_to_four_decimals_is_saved_in_the_admin_and_shown_as_the_api_gives_it(
    admin_client, api_client, tenant
):
    invoice = InvoiceFactory(tenant=tenant, currency="KWD")
    row = line(invoice, "Development", 12, "110.00", 21)
    url = f"/admin/invoices/invoice/{invoice.pk}/change/"
    page = admin_client.get(url).content.decode()
    assert 'name="lines-0-unit_price" value="110.00"' in page

    form = {
        "tenant": tenant.pk,
        "number": invoice.number,
        "client": invoice.client_id,
        "currency": "KWD",
        "status": "draft",
        "lines-0-id": row.pk,
        "lines-0-invoice": invoice.pk,
        "lines-0-sort_order": "0",
        "lines-0-description": "Dates",
        "lines-0-quantity": "3",
        "lines-0-unit_price": "1.2345",
        "lines-0-vat_rate": "5",
        **_lines_management(invoice, 1),
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.context["inline_admin_formsets"][0].formset.errors
    given = api_client.get(f"/api/v1/invoices/{invoice.pk}").json()["lines"]
    assert [(item["unit_price"], item["amount"]) for item in given] == [("1.2345", "3.704")]
    assert 'name="lines-0-unit_price" value="1.2345"' in admin_client.get(url).content.decode()
    update = AuditEvent.objects.get(resource_id=str(invoice.pk), action=AuditEvent.Action.UPDATE)
    assert [entry["unit_price"] for entry in update.old_values["lines"]] == ["110.00"]
    assert [entry["unit_price"] for entry in update.new_values["lines"]] == ["1.2345"]

    finer = admin_client.post(url, {**form, "lines-0-unit_price": "1.23456"})
    assert finer.status_code == 200
    errors = finer.context["inline_admin_formsets"][0].formset.errors
    assert errors == [{"unit_price": ["Ensure that there are no more than 4 decimal places."]}]


def test_a_sent_invoices_lines_show_their_prices_as_the_api_gives_them(admin_client, tenant):
    invoice = InvoiceFactory(tenant=tenant, status=Invoice.Status.SENT, currency="EUR")
    line(invoice, "Development", 12, "110.00", 21)
    line(invoice, "Hosting", 1, "0.0125", 21)

    page = admin_client.get(f"/admin/invoices/invoice/{invoice.pk}/change/").content.decode()

    prices = re.findall(r'<td class="field-unit_price\w*">\s*<p>([^<]*)</p>', page)
    assert prices == ["110.00", "0.0125"]
