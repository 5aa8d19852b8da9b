import base64
import contextlib
import time
import uuid
from datetime import datetime, timedelta
from types import SimpleNamespace
from unittest.mock import ANY
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from django.core.cache import caches
from django.db import connection
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from rest_framework.test import APIClient

from accounts.models import CreditEntry
from core.idempotency import request_fingerprint
from core.models import IdempotencyRecord
from jobs.models import Job, JobEvent, Priority, WorkerSeen
from jobs.services import CLAIM_LATER, job_claim, job_execute
from tests.factories import api_key_for
from tests.jobs.factories import JobFactory


def _completed_run(tenant, *, started: datetime, finished: datetime) -> Job:
    """A run of the diagnostic type the wait estimates count."""
    return JobFactory(
        tenant=tenant, status=Job.Status.COMPLETED, started_at=started, finished_at=finished
    )


def _worker_serving(queues: str = "system,urgent,normal,batch") -> WorkerSeen:
    """The sign of life a worker serving these queues writes."""
    return WorkerSeen.objects.create(
        hostname=f"w-{uuid.uuid4().hex[:8]}@host", queues=queues, concurrency=1
    )


def _submit(client, key: str | None = None, **body):
    body.setdefault("type", "diagnostic")
    body.setdefault("payload", {"steps": 1})
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post("/api/v1/jobs", body, format="json", **headers)


def test_submit_answers_202_with_where_to_poll(api_client):
    response = _submit(api_client)
    assert response.status_code == 202, response.json()
    job = response.json()
    assert job["status"] == "pending"
    assert job["payload"] == {"steps": 1, "step_seconds": 0.2, "fail_attempts": 0}
    assert response["Location"] == f"/api/v1/jobs/{job['id']}"
    assert response["Retry-After"] == "3"
    assert job["queue"] == {
        "queue": "normal",
        "position": 1,
        "ahead": 0,
        "queue_length": 1,
        "active": 0,
        "estimated_wait_seconds": None,
        "queue_served": False,
        "waiting_for_slot_since": None,
    }


def test_a_job_whose_queue_no_worker_serves_has_no_estimated_wait(api_client, tenant):
    now = timezone.now()
    _completed_run(
        tenant, started=now - timedelta(seconds=33), finished=now - timedelta(seconds=31)
    )
    _worker_serving("system,urgent")
    url = _submit(api_client)["Location"]
    unserved = api_client.get(url).json()["queue"]
    assert (unserved["queue_served"], unserved["estimated_wait_seconds"]) == (False, None)
    _worker_serving("normal")
    caches["local"].clear()  # another web process, or a second later
    served = api_client.get(url).json()["queue"]
    assert (served["queue_served"], served["estimated_wait_seconds"]) == (True, 2.0)


def test_a_poll_says_since_when_a_job_waits_for_a_slot_of_its_capped_type(
    api_client, settings, published
):
    settings.JOBS_MAX_CONCURRENCY = {"diagnostic": 1}
    running, waiting = _submit(api_client).json(), _submit(api_client).json()
    assert isinstance(job_claim(running["id"]), Job)
    assert job_claim(waiting["id"]) == CLAIM_LATER
    since = Job.objects.get(pk=waiting["id"]).waiting_since
    polled = api_client.get(waiting["url"]).json()
    assert parse_datetime(polled["queue"]["waiting_for_slot_since"]) == since
    assert polled["status"] == "pending"


def test_every_web_process_estimates_a_pending_jobs_wait_alike(api_client, tenant):
    window_start = timezone.now().replace(second=0, microsecond=0) + timedelta(minutes=1)
    with time_machine.travel(window_start + timedelta(seconds=1), tick=False):
        now = timezone.now()
        _worker_serving()
        _completed_run(
            tenant, started=now - timedelta(seconds=12), finished=now - timedelta(seconds=10)
        )
        url = _submit(api_client)["Location"]
        first = api_client.get(url)
        assert first.json()["queue"]["estimated_wait_seconds"] == 2.0
        # A longer job completes; another web process, with no figure of its own yet, answers.
        _completed_run(tenant, started=now - timedelta(seconds=20), finished=now)
        caches["local"].clear()
        assert api_client.get(url, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    with time_machine.travel(window_start + timedelta(seconds=31), tick=False):
        # The next window counts it.
        assert api_client.get(url).json()["queue"]["estimated_wait_seconds"] == 11.0


def test_the_first_poll_shows_the_job_the_submit_answered_with(api_client, api_key):
    submitted = _submit(api_client, priority="urgent").json()
    polled = api_client.get(submitted["url"]).json()
    assert polled == submitted
    job = Job.objects.get(pk=submitted["id"])
    assert (job.tenant.slug, job.api_key.name, job.priority) == ("alice", "alice key", "urgent")
    assert timedelta(0) <= job.updated_at - job.created_at < timedelta(seconds=1)


def test_the_submit_answers_with_the_payload_a_poll_shows(api_client):
    # jsonb stores -0.0 as 0: the submit's answer says so too, and the first poll can be a 304.
    submitted = _submit(api_client, payload={"steps": 1, "step_seconds": -0.0})
    assert submitted.json()["payload"]["step_seconds"] == 0.0
    assert str(submitted.json()["payload"]["step_seconds"]) == "0.0"
    polled = api_client.get(submitted["Location"], HTTP_IF_NONE_MATCH=submitted["ETag"])
    assert polled.status_code == 304


def test_polling_gives_an_etag_and_304_while_nothing_changed(api_client):
    location = _submit(api_client)["Location"]
    first = api_client.get(location)
    assert first.status_code == 200
    assert api_client.get(location, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 304
    Job.objects.update(progress=50)
    assert api_client.get(location, HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 200


def test_a_job_waiting_for_its_next_attempt_gives_304_while_nothing_changed(api_client, tenant):
    now = timezone.now()
    _worker_serving()
    # A recent run of the type (before the current 30-second window): it has a mean duration (2 s)
    # to estimate from.
    _completed_run(
        tenant, started=now - timedelta(seconds=33), finished=now - timedelta(seconds=31)
    )
    job = JobFactory(
        tenant=tenant,
        attempts=1,
        next_retry_at=now + timedelta(minutes=15),
        error_code="TIMEOUT",
        error_message="The attempt timed out.",
    )
    url = f"/api/v1/jobs/{job.pk}"
    first = api_client.get(url)
    # The wait is counted from when the job is due again: it does not count down between polls.
    assert first.json()["queue"]["estimated_wait_seconds"] == 2.0
    with time_machine.travel(now + timedelta(seconds=40), tick=False):
        again = api_client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304


def test_a_finished_generation_gives_304_to_later_polls_and_its_link_opens_for_its_lifetime(
    api_client, client, published, settings
):
    submitted = api_client.post(
        "/api/v1/generations",
        {"kind": "deck", "text": "Tides rise and fall. The moon pulls the sea. " * 5},
        format="json",
    ).json()
    job_execute(job_id=submitted["id"])
    lifetime = settings.GENERATION_VIEW_URL_MAX_AGE
    step = lifetime // 100
    # Polls a few seconds into a hundredth of the link's lifetime, then minutes later.
    start = (int(time.time()) // step + 1) * step + 5
    for url in (f"/api/v1/generations/{submitted['id']}", f"/api/v1/jobs/{submitted['id']}"):
        with time_machine.travel(start, tick=False):
            first = api_client.get(url)
        with time_machine.travel(start + 600, tick=False):
            again = api_client.get(url, HTTP_IF_NONE_MATCH=first["ETag"])
        assert first.json()["status"] == "completed"
        assert again.status_code == 304
    link = urlsplit(first.json()["view_url"]).path
    # The link may be a few seconds older than its poll, never younger: it opens for at least 99%
    # of GENERATION_VIEW_URL_MAX_AGE and not past it.
    with time_machine.travel(start + lifetime - step, tick=False):
        assert client.get(link).status_code == 200
    with time_machine.travel(start + lifetime, tick=False):
        assert client.get(link).status_code == 404


def test_a_finished_job_has_no_polling_hint(api_client, tenant):
    job = JobFactory(tenant=tenant, status=Job.Status.COMPLETED, result={"ok": True})
    response = api_client.get(f"/api/v1/jobs/{job.pk}")
    assert response.json()["result"] == {"ok": True}
    assert not response.has_header("Retry-After")


def test_queue_position_counts_due_jobs_ahead_in_the_same_queue(api_client, tenant, other_tenant):
    JobFactory(tenant=other_tenant)
    JobFactory(tenant=tenant)
    JobFactory(tenant=tenant, priority=Priority.URGENT)
    mine = _submit(api_client).json()
    assert mine["queue"]["ahead"] == 2
    assert mine["queue"]["position"] == 3


def test_polling_shows_the_due_jobs_ahead_as_they_move(api_client, tenant, other_tenant):
    first = JobFactory(tenant=other_tenant)
    JobFactory(tenant=tenant, next_retry_at=timezone.now() + timedelta(minutes=5))
    JobFactory(tenant=tenant, priority=Priority.URGENT)
    mine = _submit(api_client).json()
    JobFactory(tenant=tenant)
    url = f"/api/v1/jobs/{mine['id']}"
    assert api_client.get(url).json()["queue"]["ahead"] == 1
    Job.objects.filter(pk=first.pk).update(status=Job.Status.PROCESSING)
    queue = api_client.get(url).json()["queue"]
    assert (queue["ahead"], queue["position"]) == (0, 1)
    Job.objects.filter(pk=mine["id"]).update(status=Job.Status.PROCESSING)
    assert api_client.get(url).json()["queue"] is None


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "no_such_type"}, "type"),
        ({"payload": {"steps": -1}}, "payload"),
        ({"payload": ["not", "an", "object"]}, "payload"),
        ({"priority": "asap"}, "priority"),
    ],
)
def test_bad_submissions_are_400_with_the_field_and_write_nothing(api_client, body, field):
    response = _submit(api_client, **body)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "INVALID_REQUEST"
    assert field in response.json()["errors"]
    assert not Job.objects.exists()


def test_a_bad_priority_and_payload_are_named_in_one_400(api_client):
    response = _submit(api_client, payload={"steps": -1, "stepz": 3}, priority="asap")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert list(errors) == ["priority", "payload"]
    assert set(errors["payload"]) == {"steps", "stepz"}
    assert not Job.objects.exists()


def test_diagnostics_can_be_switched_off(api_client, settings):
    settings.JOBS_ENABLE_DIAGNOSTICS = False
    assert _submit(api_client).status_code == 400


def test_a_short_balance_is_402_and_writes_nothing(api_client, tenant, settings):
    settings.JOB_CREDIT_COSTS = {"diagnostic": 500}
    response = _submit(api_client)
    assert response.status_code == 402
    assert response.json()["code"] == "INSUFFICIENT_CREDITS"
    assert not Job.objects.exists()
    assert not CreditEntry.objects.exists()


def test_list_filters_by_status_type_and_ids(api_client, tenant):
    done = JobFactory(tenant=tenant, status=Job.Status.COMPLETED)
    pending = JobFactory(tenant=tenant)
    by_status = api_client.get("/api/v1/jobs?status=completed").json()["results"]
    assert [job["id"] for job in by_status] == [str(done.pk)]
    by_ids = api_client.get(f"/api/v1/jobs?ids={pending.pk},{done.pk}").json()["results"]
    assert {job["id"] for job in by_ids} == {str(done.pk), str(pending.pk)}
    assert api_client.get("/api/v1/jobs?type=diagnostic").json()["results"] != []
    assert api_client.get("/api/v1/jobs?type=invoice_pdf").json()["results"] == []


def test_a_job_id_is_found_however_it_is_written(api_client, other_api_client, tenant):
    job = JobFactory(tenant=tenant)
    for written in [str(job.pk).upper(), job.pk.hex, job.pk.hex.upper()]:
        polled = api_client.get(f"/api/v1/jobs/{written}")
        assert (polled.status_code, polled.json()["id"]) == (200, str(job.pk))
        assert api_client.get(f"/api/v1/generations/{written}").status_code == 404
        assert api_client.get(f"/api/v1/jobs/{written}/events").status_code == 200
        assert other_api_client.get(f"/api/v1/jobs/{written}").status_code == 404
    assert api_client.post(f"/api/v1/jobs/{str(job.pk).upper()}/cancel").status_code == 200


def test_submitting_a_type_the_product_submits_itself_is_400_saying_so(api_client):
    response = _submit(api_client, type="invoice_pdf", payload={"invoice_id": 1})
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "type": ["invoice_pdf jobs are submitted by the product itself."]
    }
    assert not Job.objects.exists()


def test_listing_an_unknown_type_is_400_naming_the_types(api_client, tenant):
    JobFactory(tenant=tenant)

    response = api_client.get("/api/v1/jobs?type=diagnostics")

    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_REQUEST"
    assert "diagnostic," in response.json()["errors"]["type"][0]


def test_a_batch_look_up_answers_every_job_it_names_on_one_page(api_client, tenant):
    jobs = JobFactory.create_batch(100, tenant=tenant)
    ids = ",".join(str(job.pk) for job in jobs)

    page = api_client.get(f"/api/v1/jobs?ids={ids}").json()

    assert len(page["results"]) == 100 and page["next"] is None
    assert len(api_client.get(f"/api/v1/jobs?ids={ids}&page_size=30").json()["results"]) == 30
    assert len(api_client.get("/api/v1/jobs").json()["results"]) == 50


def test_a_batch_look_up_of_no_ids_finds_no_jobs(api_client, tenant):
    JobFactory(tenant=tenant)
    for empty in ["", ",", " , "]:
        response = api_client.get(f"/api/v1/jobs?ids={empty}")
        assert (response.status_code, response.json()["results"]) == (200, [])


@pytest.mark.parametrize("query", ["status=", "type=", "status=running"])
def test_an_empty_or_unknown_filter_is_400_not_left_out(api_client, tenant, query):
    JobFactory(tenant=tenant)
    response = api_client.get(f"/api/v1/jobs?{query}")
    assert response.status_code == 400
    assert list(response.json()["errors"]) == [query.split("=")[0]]


def test_a_bad_id_in_the_batch_look_up_is_400(api_client):
    response = api_client.get("/api/v1/jobs?ids=abc")
    assert response.status_code == 400
    assert "ids" in response.json()["errors"]


def test_the_list_is_cursor_paginated(api_client, tenant):
    for _ in range(3):
        JobFactory(tenant=tenant)
    first = api_client.get("/api/v1/jobs?page_size=2").json()
    assert len(first["results"]) == 2
    second = api_client.get(first["next"]).json()
    assert len(second["results"]) == 1
    garbled = api_client.get("/api/v1/jobs?cursor=not-a-cursor")
    assert garbled.status_code == 400
    assert garbled.json()["code"] == "INVALID_REQUEST"
    assert "cursor" in garbled.json()["errors"]


@pytest.mark.parametrize("cursor", ["!!!!", " ", "\x00", "AAAA", "", "eD0x"])
def test_a_mangled_cursor_is_400_not_the_first_page_again(api_client, tenant, cursor):
    JobFactory(tenant=tenant)
    response = api_client.get("/api/v1/jobs", {"cursor": cursor})
    assert response.status_code == 400, response.content
    assert "cursor" in response.json()["errors"]


def test_every_cursor_the_list_links_to_is_read_back(api_client, tenant):
    for _ in range(5):
        JobFactory(tenant=tenant)
    page = api_client.get("/api/v1/jobs?page_size=2").json()
    seen = [job["id"] for job in page["results"]]
    while page["next"]:
        page = api_client.get(page["next"]).json()
        seen += [job["id"] for job in page["results"]]
    assert len(set(seen)) == 5
    back = api_client.get(page["previous"])
    assert back.status_code == 200 and len(back.json()["results"]) == 2


def test_a_cursor_cut_short_or_from_another_list_is_400_not_an_early_end(api_client, tenant):
    job = JobFactory(tenant=tenant)
    for _ in range(3):
        JobEvent.objects.create(job=job, kind=JobEvent.Kind.REQUEUED)
        JobFactory(tenant=tenant)
    jobs_next = api_client.get("/api/v1/jobs?page_size=2").json()["next"]
    cursor = parse_qs(urlsplit(jobs_next).query)["cursor"][0]
    for cut in (16, 20, 32, len(cursor) - 1):
        response = api_client.get("/api/v1/jobs", {"page_size": 2, "cursor": cursor[:cut]})
        assert response.status_code == 400, (cut, response.json())
        assert "cursor" in response.json()["errors"]
    events_next = api_client.get(f"/api/v1/jobs/{job.pk}/events?page_size=2").json()["next"]
    events_cursor = parse_qs(urlsplit(events_next).query)["cursor"][0]
    events = api_client.get(f"/api/v1/jobs/{job.pk}/events", {"cursor": events_cursor})
    assert events.status_code == 200
    elsewhere = api_client.get(f"/api/v1/jobs/{job.pk}/events", {"cursor": cursor})
    assert elsewhere.status_code == 400


def test_a_walk_goes_on_across_a_key_rotation_while_the_old_key_is_a_fallback(
    api_client, tenant, settings
):
    for _ in range(3):
        JobFactory(tenant=tenant)
    next_page = api_client.get("/api/v1/jobs?page_size=2").json()["next"]
    settings.SECRET_KEY_FALLBACKS = [settings.SECRET_KEY]
    settings.SECRET_KEY = "a-new-key-" + "x" * 40
    assert len(api_client.get(next_page).json()["results"]) == 1
    settings.SECRET_KEY_FALLBACKS = []
    assert api_client.get(next_page).status_code == 400


def test_a_batch_look_up_takes_ids_repeated_as_http_clients_send_lists(api_client, tenant):
    first, second, _other = (JobFactory(tenant=tenant) for _ in range(3))
    response = api_client.get(f"/api/v1/jobs?ids={first.pk}&ids={second.pk}")
    assert {job["id"] for job in response.json()["results"]} == {str(first.pk), str(second.pk)}
    bad = api_client.get(f"/api/v1/jobs?ids={first.pk},xyz")
    assert bad.json()["errors"] == {"ids": ["'xyz' is not a job id."]}


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        (
            "ids%5B%5D={job}",
            {
                "ids[]": [
                    "Unknown query parameter: this list takes status, type, ids, cursor, page_size."
                ]
            },
        ),
        ("stauts=failed", {"stauts": [ANY]}),
        ("status=failed&status=canceled", {"status": ["Given more than once: give one value."]}),
        ("page_size=1&page_size=2", {"page_size": ["Given more than once: give one value."]}),
    ],
)
def test_a_misspelt_or_repeated_filter_is_400_not_the_whole_list(api_client, tenant, query, errors):
    job = JobFactory(tenant=tenant)
    JobFactory(tenant=tenant)
    response = api_client.get(f"/api/v1/jobs?{query.format(job=job.pk)}")
    assert response.status_code == 400
    assert response.json()["errors"] == errors


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/credit-entries",
        "/api/v1/audit-events",
        "/api/v1/notifications",
        "/api/v1/invoices",
        "/api/v1/clients",
        "/api/v1/share-links",
        "/api/v1/projects",
        "/api/v1/time-entries",
        "/api/v1/budget-alerts",
        "/api/v1/stories",
        "/api/v1/flashcards",
        "/api/v1/api-keys",
    ],
)
def test_every_list_refuses_a_filter_it_does_not_take(api_client, url):
    assert api_client.get(url).status_code == 200
    response = api_client.get(url, {"stauts": "open"})
    assert response.status_code == 400
    assert list(response.json()["errors"]) == ["stauts"]


@pytest.mark.parametrize(
    ("url", "name", "choices"),
    [
        ("/api/v1/jobs", "status", "pending, processing, completed, failed, canceled"),
        ("/api/v1/jobs", "type", "deck_generation, diagnostic, distractor_generation"),
        ("/api/v1/invoices", "status", "draft, sent, paid, void"),
        ("/api/v1/budget-alerts", "status", "active, resolved"),
        ("/api/v1/notifications", "status", "open, resolved"),
        ("/api/v1/notifications", "kind", "budget_alert, budget_check_failures"),
        ("/api/v1/credit-entries", "kind", "grant, debit, refund"),
        ("/api/v1/audit-events", "action", "create, update, delete"),
        ("/api/v1/share-links", "usable", "true, false"),
        ("/api/v1/share-links", "active", "true, false"),
    ],
)
@pytest.mark.parametrize("value", ["x", ""])
def test_every_list_refuses_a_value_its_filter_does_not_take_in_the_same_words(
    api_client, url, name, choices, value
):
    response = api_client.get(url, {name: value})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_REQUEST"
    (error,) = response.json()["errors"][name]
    assert error.startswith(f'Select a valid choice. "{value}" is not one of: {choices}')


@pytest.mark.parametrize("page_size", ["0", "-1", "abc", "1.5", "201", "²"])
def test_a_page_size_that_is_not_1_to_200_is_400(api_client, page_size):
    response = api_client.get("/api/v1/jobs", {"page_size": page_size})
    assert response.status_code == 400
    assert response.json()["errors"] == {"page_size": ["A whole number from 1 to 200."]}
    assert api_client.get("/api/v1/jobs", {"page_size": "200"}).status_code == 200


@pytest.mark.parametrize("position", ["abc", "42", "2024-13-45"])
@pytest.mark.parametrize("url", ["/api/v1/jobs", "/api/v1/jobs/{job}/events"])
def test_a_cursor_whose_position_is_not_of_the_list_is_400(api_client, tenant, position, url):
    job = JobFactory(tenant=tenant)
    cursor = base64.b64encode(f"o=0&r=0&p={position}".encode()).decode()
    response = api_client.get(url.format(job=job.pk), {"cursor": cursor})
    assert response.status_code == 400, response.content
    assert "cursor" in response.json()["errors"]


def test_cancel_a_finished_job_is_409(api_client, tenant):
    job = JobFactory(tenant=tenant, status=Job.Status.COMPLETED)
    response = api_client.post(f"/api/v1/jobs/{job.pk}/cancel")
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"


def test_cancel_a_pending_job(api_client, tenant):
    job = JobFactory(tenant=tenant)
    response = api_client.post(f"/api/v1/jobs/{job.pk}/cancel")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"


def test_a_canceled_job_says_its_charge_was_given_back(api_client, tenant, settings):
    settings.JOB_CREDIT_COSTS = {"diagnostic": 5}
    submitted = _submit(api_client).json()

    canceled = api_client.post(f"/api/v1/jobs/{submitted['id']}/cancel").json()

    assert (submitted["credits_charged"], submitted["credits_refunded"]) == (5, 0)
    assert (canceled["credits_charged"], canceled["credits_refunded"]) == (5, 5)
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100


def test_a_job_canceled_while_waiting_for_its_next_attempt_announces_no_other(api_client, tenant):
    job = JobFactory(
        tenant=tenant,
        attempts=1,
        next_retry_at=timezone.now() + timedelta(minutes=5),
        error_code="DIAGNOSTIC_FAILURE",
        error_message="Attempt 1 fails on request.",
    )
    canceled = api_client.post(f"/api/v1/jobs/{job.pk}/cancel")
    polled = api_client.get(f"/api/v1/jobs/{job.pk}").json()
    assert (canceled.json()["status"], canceled.json()["next_retry_at"]) == ("canceled", None)
    assert (polled["status"], polled["next_retry_at"]) == ("canceled", None)


def test_cancel_asked_of_a_processing_job_answers_202_with_the_polling_hints(api_client, tenant):
    job = JobFactory(tenant=tenant)
    job_claim(job.pk)
    url = f"/api/v1/jobs/{job.pk}"
    response = api_client.post(f"{url}/cancel")
    assert response.status_code == 202
    assert (response.json()["status"], response.json()["cancel_requested"]) == ("processing", True)
    assert response["Retry-After"] == "3"
    assert response["Location"] == url
    # The ETag is the job's: polls answer 304 until the cancel lands.
    assert api_client.get(url, HTTP_IF_NONE_MATCH=response["ETag"]).status_code == 304


def test_a_cancel_sent_with_if_none_match_cancels_and_answers_the_job(api_client, tenant):
    job = JobFactory(tenant=tenant)
    url = f"/api/v1/jobs/{job.pk}"
    etag = api_client.get(url)["ETag"]
    response = api_client.post(f"{url}/cancel", HTTP_IF_NONE_MATCH="*")
    assert response.status_code == 200
    assert response.json()["status"] == "canceled"
    assert response["ETag"] != etag


def test_retry_creates_a_new_job_pointing_back(api_client, tenant):
    failed = JobFactory(tenant=tenant, status=Job.Status.FAILED, error_code="BOOM")
    response = api_client.post(f"/api/v1/jobs/{failed.pk}/retry")
    assert response.status_code == 202
    assert response.json()["retry_of"] == str(failed.pk)
    assert response.json()["status"] == "pending"


def test_a_retry_may_change_the_priority_and_refuses_any_other_body(api_client, tenant):
    failed = JobFactory(tenant=tenant, status=Job.Status.FAILED, priority=Priority.BATCH)
    url = f"/api/v1/jobs/{failed.pk}/retry"
    for body, errors in [
        ({"priority": "urgent", "payload": {"steps": 99}}, {"payload": ["Unknown field."]}),
        ({"priority": "asap"}, {"priority": [ANY]}),
    ]:
        refused = api_client.post(url, body, format="json")
        assert (refused.status_code, refused.json()["errors"]) == (400, errors)
    malformed = api_client.post(url, "{bad json", content_type="application/json")
    assert malformed.status_code == 400
    assert not Job.objects.filter(retry_of=failed).exists()

    urgent = api_client.post(url, {"priority": "urgent"}, format="json")
    assert (urgent.status_code, urgent.json()["priority"]) == (202, "urgent")
    assert urgent.json()["payload"] == failed.payload
    as_before = api_client.post(url)
    assert (as_before.status_code, as_before.json()["priority"]) == (202, "batch")


def test_a_retry_sent_with_an_idempotency_key_is_made_once_and_replayed(api_client, tenant):
    failed = JobFactory(tenant=tenant, status=Job.Status.FAILED, error_code="BOOM")
    url = f"/api/v1/jobs/{failed.pk}/retry"
    first = api_client.post(url, HTTP_IDEMPOTENCY_KEY="retry-once")
    again = api_client.post(url, HTTP_IDEMPOTENCY_KEY="retry-once")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert first.json()["retry_of"] == str(failed.pk)
    assert Job.objects.filter(retry_of=failed).count() == 1


def test_retry_of_a_job_that_did_not_fail_is_409(api_client, tenant):
    job = JobFactory(tenant=tenant)
    job_claim(job.pk)
    assert api_client.post(f"/api/v1/jobs/{job.pk}/retry").status_code == 409


def test_queue_stats_are_for_workspace_admins(api_client, member_api_client, tenant):
    JobFactory(tenant=tenant)
    JobFactory(tenant=tenant, status=Job.Status.FAILED)
    stats = api_client.get("/api/v1/queue/stats").json()
    assert stats["jobs"] == [
        {
            "queue": "normal",
            "type": "diagnostic",
            "pending": 1,
            "processing": 0,
            "completed": 0,
            "failed": 1,
            "canceled": 0,
        }
    ]
    assert stats["depth"] == {"urgent": 0, "normal": 1, "batch": 0}
    assert member_api_client.get("/api/v1/queue/stats").status_code == 403


@pytest.mark.parametrize(
    ("method", "path"),
    [("get", ""), ("get", "/events"), ("post", "/cancel"), ("post", "/retry")],
)
def test_another_workspaces_job_is_not_found(other_api_client, tenant, method, path):
    job = JobFactory(tenant=tenant, status=Job.Status.FAILED)
    response = getattr(other_api_client, method)(f"/api/v1/jobs/{job.pk}{path}")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"
    missing = getattr(other_api_client, method)(f"/api/v1/jobs/{uuid.uuid4()}{path}")
    assert missing.json() | {"request_id": None} == response.json() | {"request_id": None}


def test_the_batch_look_up_never_shows_another_workspaces_jobs(other_api_client, tenant):
    job = JobFactory(tenant=tenant)
    assert other_api_client.get(f"/api/v1/jobs?ids={job.pk}").json()["results"] == []


def test_an_idempotent_replay_returns_the_first_response(api_client):
    first = api_client.post(
        "/api/v1/jobs",
        {"type": "diagnostic", "payload": {}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    again = api_client.post(
        "/api/v1/jobs",
        {"type": "diagnostic", "payload": {}},
        format="json",
        HTTP_IDEMPOTENCY_KEY='"k-1"',
    )
    assert again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert again.content == first.content  # the same bytes, its keys in their order
    assert again["Location"] == first["Location"]
    different = api_client.post(
        "/api/v1/jobs",
        {"type": "diagnostic", "payload": {"steps": 9}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )
    assert different.status_code == 422
    assert different.json()["code"] == "IDEMPOTENCY_MISMATCH"
    assert Job.objects.count() == 1


def test_a_rejected_request_stores_nothing_under_its_key(api_client):
    bad = api_client.post(
        "/api/v1/jobs",
        {"type": "diagnostic", "payload": {"steps": -1}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-2",
    )
    assert bad.status_code == 400
    fixed = api_client.post(
        "/api/v1/jobs",
        {"type": "diagnostic", "payload": {"steps": 1}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-2",
    )
    assert fixed.status_code == 202


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "é"])
def test_a_malformed_idempotency_key_is_400(api_client, key):
    response = api_client.post(
        "/api/v1/jobs",
        {"type": "diagnostic", "payload": {}},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )
    assert response.status_code == 400
    assert not Job.objects.exists()


def test_idempotency_keys_belong_to_one_workspace(api_client, other_api_client):
    mine = api_client.post(
        "/api/v1/jobs",
        {"type": "diagnostic", "payload": {}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="same",
    )
    theirs = other_api_client.post(
        "/api/v1/jobs",
        {"type": "diagnostic", "payload": {}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="same",
    )
    assert theirs.status_code == 202
    assert theirs.json()["id"] != mine.json()["id"]


def test_failed_authentication_spends_no_rate_limit(anonymous_client, api_client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 1
    anonymous_client.credentials(HTTP_AUTHORIZATION="Bearer ofl_wrong")
    assert _submit(anonymous_client).status_code == 401
    assert _submit(api_client).status_code == 202
    assert _submit(api_client).status_code == 429


def test_a_refusal_by_one_limit_spends_none_of_the_others(api_client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 2
    settings.RATE_LIMIT_PER_DAY = 3
    assert [_submit(api_client).status_code for _ in range(4)] == [202, 202, 429, 429]
    day = _submit(api_client)
    assert day["X-RateLimit-Limit"] == "2"
    settings.RATE_LIMIT_PER_MINUTE = 10
    # Only the two accepted submissions count against the day: one more fits.
    assert _submit(api_client).status_code == 202
    assert _submit(api_client).status_code == 429


def test_a_keys_own_limit_overrides_the_default(tenant, settings):
    from rest_framework.test import APIClient

    from tests.factories import api_key_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(tenant, rate_limit_per_minute=1)}")
    assert [_submit(client).status_code for _ in range(2)] == [202, 429]


@pytest.mark.parametrize("limit", ["rate_limit_per_minute", "rate_limit_per_day"])
def test_a_keys_limit_of_zero_stops_its_submissions(tenant, limit):
    from rest_framework.test import APIClient

    from tests.factories import api_key_for

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_key_for(tenant, **{limit: 0})}")
    refused = _submit(client)
    assert refused.status_code == 429
    assert refused.json()["code"] == "RATE_LIMITED"
    assert refused["X-RateLimit-Limit"] == "0"
    assert int(refused["Retry-After"]) >= 60
    assert not Job.objects.exists()


def test_twenty_an_hour_per_job_type(api_client, settings):
    settings.RATE_LIMIT_PER_MINUTE = 100
    settings.RATE_LIMIT_PER_HOUR_PER_TYPE = 3
    codes = [_submit(api_client).status_code for _ in range(4)]
    assert codes == [202, 202, 202, 429]


@pytest.mark.parametrize(
    ("limits", "named"),
    [
        ({"RATE_LIMIT_PER_MINUTE": 1}, "Too many job submissions: the limit is 1 a minute"),
        ({"RATE_LIMIT_PER_DAY": 1}, "Too many job submissions: the limit is 1 a day"),
        (
            {"RATE_LIMIT_PER_HOUR_PER_TYPE": 1},
            "Too many diagnostic submissions: the limit is 1 an hour",
        ),
    ],
)
def test_a_refused_submission_names_the_limit_it_hit_and_when_to_send_it_again(
    api_client, settings, limits, named
):
    for name, value in limits.items():
        setattr(settings, name, value)
    assert _submit(api_client).status_code == 202
    refused = _submit(api_client)
    assert refused.status_code == 429
    assert refused.json()["detail"] == (
        f"{named}; send it again in {refused['Retry-After']} seconds (Retry-After)."
    )


@pytest.mark.parametrize(
    ("limit", "named"),
    [("rate_limit_per_minute", "a minute"), ("rate_limit_per_day", "a day")],
)
def test_a_key_whose_submissions_are_stopped_is_not_told_to_send_it_again(tenant, limit, named):
    stopped = APIClient()
    stopped.credentials(
        HTTP_AUTHORIZATION=f"Bearer {api_key_for(tenant, name='stopped', **{limit: 0})}"
    )

    refused = _submit(stopped)

    assert refused.status_code == 429
    assert refused.json()["detail"] == (
        f"Job submissions are stopped: the limit is 0 {named}, until it is raised."
    )


def test_reads_have_their_own_limit(api_client, tenant, settings):
    settings.RATE_LIMIT_READS_PER_MINUTE = 2
    job = JobFactory(tenant=tenant)
    codes = [api_client.get(f"/api/v1/jobs/{job.pk}").status_code for _ in range(3)]
    assert codes == [200, 200, 429]


@pytest.mark.parametrize(
    ("quota", "detail"),
    [
        (1, "Too many reads: the limit is 1 a minute; send it again in {} seconds (Retry-After)."),
        (0, "Reads are stopped: the limit is 0 a minute, until it is raised."),
    ],
)
def test_a_refused_read_names_its_limit_as_a_refused_submission_does(
    api_client, tenant, settings, quota, detail
):
    settings.RATE_LIMIT_READS_PER_MINUTE = quota
    job = JobFactory(tenant=tenant)
    for _ in range(quota):
        assert api_client.get(f"/api/v1/jobs/{job.pk}").status_code == 200

    refused = api_client.get(f"/api/v1/jobs/{job.pk}")

    assert refused.status_code == 429
    assert refused.json()["detail"] == detail.format(refused["Retry-After"])


def test_a_refused_write_names_its_limit(api_client, settings):
    settings.RATE_LIMIT_WRITES_PER_MINUTE = 1
    assert api_client.post("/api/v1/clients", {"name": "Acme AS"}, format="json").status_code == 201

    refused = api_client.post("/api/v1/clients", {"name": "Beta AS"}, format="json")

    assert refused.status_code == 429
    assert refused.json()["detail"] == (
        "Too many writes: the limit is 1 a minute; "
        f"send it again in {refused['Retry-After']} seconds (Retry-After)."
    )


def test_writes_have_their_own_limit_that_reads_and_submissions_do_not_spend(
    api_client, tenant, settings
):
    settings.RATE_LIMIT_WRITES_PER_MINUTE = 2
    job = JobFactory(tenant=tenant)
    assert [_submit(api_client).status_code for _ in range(3)] == [202] * 3
    assert api_client.get(f"/api/v1/jobs/{job.pk}").status_code == 200

    cancels = [api_client.post(f"/api/v1/jobs/{job.pk}/cancel") for _ in range(2)]
    refused = api_client.post("/api/v1/clients", {"name": "Acme AS"}, format="json")

    assert [response.status_code for response in cancels] == [200, 409]
    assert refused.status_code == 429
    assert refused.json()["code"] == "RATE_LIMITED"
    assert refused["X-RateLimit-Remaining"] == "0" and int(refused["Retry-After"]) >= 1
    assert _submit(api_client).status_code == 202


def test_a_replayed_write_counts_against_the_write_limit(api_client, settings):
    settings.RATE_LIMIT_WRITES_PER_MINUTE = 2

    def create():
        return api_client.post(
            "/api/v1/clients", {"name": "Acme AS"}, format="json", HTTP_IDEMPOTENCY_KEY="c-1"
        )

    first, replay, refused = create(), create(), create()

    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay["Idempotent-Replayed"] == "true" and replay.json() == first.json()
    assert (first["X-RateLimit-Remaining"], replay["X-RateLimit-Remaining"]) == ("1", "0")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1


def test_a_method_the_endpoint_does_not_answer_spends_no_write(api_client, settings):
    settings.RATE_LIMIT_WRITES_PER_MINUTE = 1
    wrong = [api_client.delete("/api/v1/me"), api_client.put("/api/v1/queue/stats", {})]

    created = api_client.post("/api/v1/clients", {"name": "Acme AS"}, format="json")

    assert [response.status_code for response in wrong] == [405, 405]
    assert created.status_code == 201
    assert created["X-RateLimit-Remaining"] == "0"


@pytest.mark.parametrize("number", ["nan", "NaN", "inf", "-Infinity"])
def test_a_payload_number_that_is_not_finite_is_400_under_its_field_and_writes_nothing(
    api_client, tenant, settings, number
):
    settings.JOB_CREDIT_COSTS = {"diagnostic": 3}
    response = _submit(api_client, payload={"step_seconds": number})
    assert response.status_code == 400
    assert response.json()["code"] == "INVALID_REQUEST"
    assert list(response.json()["errors"]) == ["payload"]
    assert list(response.json()["errors"]["payload"]) == ["step_seconds"]
    assert not Job.objects.exists()
    assert not CreditEntry.objects.exists()
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100


def test_an_idempotent_replay_has_the_first_responses_resource_headers(api_client):
    def submit():
        return api_client.post(
            "/api/v1/jobs",
            {"type": "diagnostic", "payload": {}},
            format="json",
            HTTP_IDEMPOTENCY_KEY="order-1234",
        )

    first = submit()
    replay = submit()
    assert (replay.status_code, replay["Idempotent-Replayed"]) == (202, "true")
    assert replay.json() == first.json()
    for header in ("ETag", "Location", "Retry-After", "Content-Type"):
        assert replay[header] == first[header], header
    assert api_client.get(first["Location"], HTTP_IF_NONE_MATCH=replay["ETag"]).status_code == 304


def test_an_idempotent_replay_spends_no_submission_and_carries_no_rate_limit_headers(api_client):
    def submit(key):
        return api_client.post(
            "/api/v1/jobs",
            {"type": "diagnostic", "payload": {}},
            format="json",
            HTTP_IDEMPOTENCY_KEY=key,
        )

    first = submit("k-1")
    assert first["X-RateLimit-Remaining"] == "9"
    replay = submit("k-1")
    assert replay["Idempotent-Replayed"] == "true"
    assert not any(
        name.lower().startswith(("ratelimit", "x-ratelimit")) for name, _ in replay.items()
    )
    assert submit("k-2")["X-RateLimit-Remaining"] == "8"


def test_a_402_counts_as_a_submission_and_carries_the_rate_limit_headers(api_client, settings):
    settings.JOB_CREDIT_COSTS = {"diagnostic": 500}
    refused = _submit(api_client)
    assert refused.status_code == 402
    assert refused.json()["code"] == "INSUFFICIENT_CREDITS"
    assert refused["X-RateLimit-Limit"] == "10"
    assert refused["X-RateLimit-Remaining"] == "9"
    assert refused["RateLimit"].startswith('"minute";r=9;')
    assert refused.has_header("RateLimit-Policy") and refused.has_header("X-RateLimit-Reset")
    assert not refused.has_header("Retry-After")
    settings.JOB_CREDIT_COSTS = {}
    accepted = _submit(api_client)
    assert accepted.status_code == 202
    assert accepted["X-RateLimit-Remaining"] == "8"


def test_retry_of_a_system_job_type_is_409_and_submits_nothing(api_client, tenant):
    failed = JobFactory(
        tenant=tenant, type="invoice_pdf", payload={"invoice_id": 1}, status=Job.Status.FAILED
    )
    response = api_client.post(f"/api/v1/jobs/{failed.pk}/retry")
    assert response.status_code == 409
    assert response.json()["code"] == "CONFLICT"
    assert "invoice_pdf" in response.json()["detail"]
    assert not Job.objects.filter(retry_of=failed).exists()
    assert Job.objects.count() == 1


@pytest.mark.parametrize(
    "if_none_match",
    ["*", '"elsewhere", {etag}', '"elsewhere",{etag}', "W/{etag}", ' W/"elsewhere" , W/{etag} '],
)
def test_if_none_match_with_star_or_a_list_holding_the_etag_gives_304(
    api_client, tenant, if_none_match
):
    job = JobFactory(tenant=tenant)
    url = f"/api/v1/jobs/{job.pk}"
    etag = api_client.get(url)["ETag"]
    response = api_client.get(url, HTTP_IF_NONE_MATCH=if_none_match.format(etag=etag))
    assert response.status_code == 304
    assert response["ETag"] == etag


@pytest.mark.parametrize(
    "if_none_match", ['"elsewhere"', '"elsewhere", W/"other"', "{bare}", '"x{bare}x"', "nonsense"]
)
def test_if_none_match_without_the_etag_gives_the_job(api_client, tenant, if_none_match):
    job = JobFactory(tenant=tenant)
    url = f"/api/v1/jobs/{job.pk}"
    bare = api_client.get(url)["ETag"].strip('"')
    response = api_client.get(url, HTTP_IF_NONE_MATCH=if_none_match.format(bare=bare))
    assert response.status_code == 200
    assert response.json()["id"] == str(job.pk)


def test_if_none_match_star_on_a_missing_job_is_404(api_client):
    response = api_client.get(f"/api/v1/jobs/{uuid.uuid4()}", HTTP_IF_NONE_MATCH="*")
    assert response.status_code == 404
    assert response.json()["code"] == "NOT_FOUND"


def _left_in_flight(tenant, key: str) -> IdempotencyRecord:
    """What a web process killed in the middle of the request (OOM, SIGKILL, a lost host) leaves."""
    return IdempotencyRecord.objects.create(
        tenant=tenant,
        key=key,
        fingerprint=request_fingerprint(
            SimpleNamespace(
                method="POST",
                path="/api/v1/jobs",
                data={"type": "diagnostic", "payload": {"steps": 1}},
            )
        ),
        expires_at=timezone.now() + timedelta(hours=24),
    )


def test_a_key_left_in_flight_by_a_dead_request_is_taken_over_once_its_hold_lapses(
    api_client, tenant, settings
):
    settings.IDEMPOTENCY_IN_FLIGHT_SECONDS = 60
    left = _left_in_flight(tenant, "order-1")
    with time_machine.travel(left.created_at + timedelta(seconds=59), tick=False):
        still_held = _submit(api_client, key="order-1")
    assert still_held.status_code == 409
    assert still_held.json()["code"] == "CONFLICT"
    assert not Job.objects.exists()
    with time_machine.travel(left.created_at + timedelta(seconds=61), tick=False):
        taken_over = _submit(api_client, key="order-1")
        replayed = _submit(api_client, key="order-1")
    assert taken_over.status_code == 202
    assert replayed.status_code == 202
    assert replayed["Idempotent-Replayed"] == "true"
    assert replayed.json()["id"] == taken_over.json()["id"]
    assert Job.objects.count() == 1


@contextlib.contextmanager
def _answers_cannot_be_stored():
    """The database refuses to store a request's answer, as a connection lost at that moment does
    (SQLSTATE 57P01, which Django raises as OperationalError)."""
    table = IdempotencyRecord._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION offload_test_answer_lost() RETURNS trigger AS $$"
            " BEGIN RAISE EXCEPTION 'the connection was lost' USING ERRCODE = '57P01'; END"
            " $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            f"CREATE TRIGGER offload_test_answer_lost BEFORE UPDATE ON {table} FOR EACH ROW"
            " WHEN (NEW.state = 'done') EXECUTE FUNCTION offload_test_answer_lost()"
        )
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TRIGGER offload_test_answer_lost ON {table}")
            cursor.execute("DROP FUNCTION offload_test_answer_lost()")


@pytest.mark.django_db(transaction=True)
def test_a_request_whose_answer_cannot_be_stored_frees_its_key_and_creates_nothing(
    api_client, tenant, published
):
    with _answers_cannot_be_stored():
        failed = _submit(api_client, key="order-2")
    assert failed.status_code == 503
    assert failed.json()["code"] == "SERVICE_UNAVAILABLE"
    assert not IdempotencyRecord.objects.filter(key="order-2").exists()
    assert not Job.objects.exists() and published == []
    tenant.refresh_from_db()
    assert tenant.credit_balance == 100
    # Told the request failed, the client sends it again with its key: it is done once, not 409.
    again = _submit(api_client, key="order-2")
    assert again.status_code == 202
    assert again.json()["status"] == "pending"
    assert Job.objects.count() == 1
