import importlib

import pytest
from django.apps import apps

from accounts.models import CreditEntry, Tenant
from accounts.services import credits_debit, credits_grant, credits_refund
from core.errors import InsufficientCredits
from jobs.models import Job
from tests.concurrency import at_once


@pytest.mark.django_db(transaction=True)
def test_twenty_concurrent_debits_of_a_balance_for_ten():
    tenant = Tenant.objects.create(slug="race", name="Race")
    credits_grant(tenant=tenant, amount=10, reason="start")
    results = at_once(lambda: credits_debit(tenant=tenant, amount=1, reason="race"), 20)
    tenant.refresh_from_db()
    outcomes = sorted(type(result).__name__ for result in results)
    assert outcomes == ["CreditEntry"] * 10 + ["InsufficientCredits"] * 10
    assert tenant.credit_balance == 0
    debits = CreditEntry.objects.filter(tenant=tenant, kind="debit")
    assert debits.count() == 10
    assert sorted(debits.values_list("balance_after", flat=True)) == list(range(10))
    assert sum(CreditEntry.objects.filter(tenant=tenant).values_list("amount", flat=True)) == 0


def test_a_short_balance_writes_nothing(tenant):
    with pytest.raises(InsufficientCredits):
        credits_debit(tenant=tenant, amount=101, reason="too much")
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100
    assert not CreditEntry.objects.exists()


def test_a_job_is_refunded_once(tenant):
    job = Job.objects.create(tenant=tenant, type="diagnostic", credits_charged=5)
    credits_debit(tenant=tenant, amount=5, reason="job", job=job)
    assert credits_refund(tenant=tenant, job=job, reason="failed") is not None
    assert credits_refund(tenant=tenant, job=job, reason="failed again") is None
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100
    assert CreditEntry.objects.filter(job=job, kind="refund").count() == 1


def test_each_charge_of_a_job_is_refunded_once(tenant):
    job = Job.objects.create(tenant=tenant, type="diagnostic", credits_charged=5)
    first = credits_debit(tenant=tenant, amount=5, reason="job", job=job)
    assert credits_refund(tenant=tenant, job=job, reason="failed").refund_of == first
    again = credits_debit(tenant=tenant, amount=5, reason="requeued", job=job)
    assert credits_refund(tenant=tenant, job=job, reason="failed again").refund_of == again
    assert credits_refund(tenant=tenant, job=job, reason="once more") is None
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100
    assert CreditEntry.objects.filter(job=job, kind="refund").count() == 2


def test_a_job_that_was_never_charged_is_not_refunded(tenant):
    job = Job.objects.create(tenant=tenant, type="diagnostic")
    assert credits_refund(tenant=tenant, job=job, reason="failed") is None
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100
    assert not CreditEntry.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_racing_refunds_of_one_charge_give_it_back_once():
    tenant = Tenant.objects.create(slug="refund-race", name="Refund race")
    credits_grant(tenant=tenant, amount=10, reason="start")
    job = Job.objects.create(tenant=tenant, type="diagnostic", credits_charged=4)
    credits_debit(tenant=tenant, amount=4, reason="job", job=job)
    results = at_once(lambda: credits_refund(tenant=tenant, job=job, reason="race"), 10)
    assert sorted(result is not None for result in results) == [False] * 9 + [True]
    tenant.refresh_from_db()
    assert tenant.credit_balance == 10
    assert CreditEntry.objects.filter(job=job, kind="refund").count() == 1
    assert sum(CreditEntry.objects.filter(tenant=tenant).values_list("amount", flat=True)) == 10


def test_the_migration_links_each_existing_refund_to_its_jobs_charge(tenant):
    migration = importlib.import_module("accounts.migrations.0003_creditentry_refund_of")
    refunded = Job.objects.create(tenant=tenant, type="diagnostic", credits_charged=2)
    requeued = Job.objects.create(tenant=tenant, type="diagnostic", credits_charged=3)
    charges = [
        credits_debit(tenant=tenant, amount=2, reason="job", job=refunded),
        credits_debit(tenant=tenant, amount=3, reason="job", job=requeued),
    ]
    refunds = [
        CreditEntry.objects.create(
            tenant=tenant, kind="refund", amount=2, balance_after=97, job=refunded
        ),
        CreditEntry.objects.create(
            tenant=tenant, kind="refund", amount=3, balance_after=100, job=requeued
        ),
    ]
    pending_charge = credits_debit(tenant=tenant, amount=3, reason="requeued", job=requeued)
    migration.refunds_link_to_charges(apps, None)
    for refund, charge in zip(refunds, charges, strict=True):
        refund.refresh_from_db()
        assert refund.refund_of == charge
    # The charge of the requeued run is still owed: its final failure will give it back.
    assert credits_refund(tenant=tenant, job=requeued, reason="failed").refund_of == pending_charge


def _grant_in_the_admin(admin_client, tenant, amount):
    return admin_client.post(
        f"/admin/accounts/tenant/{tenant.pk}/change/",
        {
            "name": tenant.name,
            "slug": tenant.slug,
            "is_active": "on",
            "grant_credits": amount,
            "memberships-TOTAL_FORMS": "0",
            "memberships-INITIAL_FORMS": "0",
            "new-members-TOTAL_FORMS": "0",
            "new-members-INITIAL_FORMS": "0",
        },
    )


def test_the_admin_grants_credits_through_the_ledger(admin_client, tenant):
    response = _grant_in_the_admin(admin_client, tenant, "25")
    assert response.status_code == 302
    tenant.refresh_from_db()
    assert tenant.credit_balance == 125
    assert CreditEntry.objects.get(kind="grant").amount == 25


@pytest.mark.parametrize("amount", ["99999999999999999999", str(2_147_483_647 - 99)])
def test_the_admin_refuses_a_grant_the_balance_cannot_hold(admin_client, tenant, amount):
    response = _grant_in_the_admin(admin_client, tenant, amount)

    assert response.status_code == 200
    assert (
        "A balance above 2,147,483,647 credits cannot be kept; alice has 100."
        in (response.context["adminform"].form.errors["grant_credits"])
    )
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100
    assert not CreditEntry.objects.exists()


def test_the_ledger_api_shows_each_charge_and_refund_of_the_workspace_only(
    api_client, other_api_client, tenant, settings
):
    settings.JOB_CREDIT_COSTS = {"diagnostic": 3}
    submitted = api_client.post(
        "/api/v1/jobs", {"type": "diagnostic", "payload": {"steps": 0}}, format="json"
    ).json()
    api_client.post(f"/api/v1/jobs/{submitted['id']}/cancel")
    other_api_client.post("/api/v1/jobs", {"type": "diagnostic", "payload": {}}, format="json")

    ledger = api_client.get("/api/v1/credit-entries").json()["results"]
    assert [(e["kind"], e["amount"], e["balance_after"], e["job"]) for e in ledger] == [
        ("refund", 3, 100, submitted["id"]),
        ("debit", -3, 97, submitted["id"]),
    ]
    refunds = api_client.get(f"/api/v1/credit-entries?kind=refund&job={submitted['id']}")
    assert [e["kind"] for e in refunds.json()["results"]] == ["refund"]
    theirs = other_api_client.get("/api/v1/credit-entries").json()["results"]
    assert [e["job"] for e in theirs] != [submitted["id"]] and len(theirs) == 1
    bad = api_client.get("/api/v1/credit-entries?job=nope")
    assert bad.status_code == 400 and "job" in bad.json()["errors"]
