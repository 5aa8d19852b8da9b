"""Racing requests through real HTTP: pytest-django's live server, many client threads."""

import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from invoices.models import Client
from jobs.models import Job
from tests.factories import api_key_for

pytestmark = pytest.mark.django_db(transaction=True)


def _post_many(url, key, count, *, threads=25, headers=None, json=None):
    headers = {"Authorization": f"Bearer {key}", **(headers or {})}
    body = json or {"type": "diagnostic", "payload": {"steps": 0}}
    with httpx.Client(timeout=30) as client, ThreadPoolExecutor(threads) as pool:
        return list(pool.map(lambda _: client.post(url, json=body, headers=headers), range(count)))


def test_a_hundred_racing_requests_with_one_key_create_one_job(live_server, tenant):
    key = api_key_for(tenant, rate_limit_per_minute=1000, rate_limit_per_day=1000)
    responses = _post_many(
        f"{live_server.url}/api/v1/jobs", key, 100, headers={"Idempotency-Key": "race-1"}
    )
    assert Job.objects.count() == 1
    job_id = str(Job.objects.get().pk)
    for response in responses:
        if response.status_code == 409:
            assert response.json()["code"] == "CONFLICT"
            assert response.headers["content-type"] == "application/problem+json"
        else:
            assert response.status_code == 202, response.text
            assert response.json()["id"] == job_id
    replays = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    assert len([r for r in responses if r.status_code == 202]) == len(replays) + 1


def test_fifty_racing_submissions_against_ten_a_minute(live_server, tenant, settings):
    settings.RATE_LIMIT_PER_MINUTE = 10
    key = api_key_for(tenant)
    started = time.time()
    responses = _post_many(f"{live_server.url}/api/v1/jobs", key, 50)
    finished = time.time()
    accepted = [r for r in responses if r.status_code == 202]
    refused = [r for r in responses if r.status_code == 429]
    assert (len(accepted), len(refused)) == (10, 40)
    assert Job.objects.count() == 10
    for response in refused:
        assert response.json()["code"] == "RATE_LIMITED"
        # Racing threads stamp their hits a few ms apart: up to a second over the window.
        assert 1 <= int(response.headers["Retry-After"]) <= 61
        assert response.headers["X-RateLimit-Remaining"] == "0"
    for response in responses:
        assert response.headers["X-RateLimit-Limit"] == "10"
        assert 0 <= int(response.headers["X-RateLimit-Remaining"]) <= 9
        # The window frees a minute after the first hit, which came between started and finished;
        # the header rounds the clock and the wait up (a second each).
        assert started + 60 <= int(response.headers["X-RateLimit-Reset"]) <= finished + 62
        assert '"minute";q=10;w=60' in response.headers["RateLimit-Policy"]
        assert response.headers["RateLimit"].startswith('"')
    remaining = sorted(int(r.headers["X-RateLimit-Remaining"]) for r in accepted)
    assert remaining == list(range(10))


def test_thirty_racing_writes_against_five_a_minute(live_server, tenant, settings):
    settings.RATE_LIMIT_WRITES_PER_MINUTE = 5
    key = api_key_for(tenant)
    responses = _post_many(f"{live_server.url}/api/v1/clients", key, 30, json={"name": "Acme AS"})
    assert sorted(r.status_code for r in responses) == [201] * 5 + [429] * 25
    assert Client.objects.count() == 5
    for response in responses:
        assert response.headers["X-RateLimit-Limit"] == "5"
        assert '"writes";q=5;w=60' in response.headers["RateLimit-Policy"]
    for response in [r for r in responses if r.status_code == 429]:
        assert response.json()["code"] == "RATE_LIMITED"
        # Racing threads stamp their hits a few ms apart: up to a second over the window.
        assert 1 <= int(response.headers["Retry-After"]) <= 61
