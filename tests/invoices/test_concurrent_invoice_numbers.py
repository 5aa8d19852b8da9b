"""Racing creations of one invoice number through real HTTP: pytest-django's live server and many
client threads, each request in its own database connection."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from invoices.models import Invoice, InvoiceLine
from tests.factories import api_key_for

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
