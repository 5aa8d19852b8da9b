from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import connection

from core.models import RateLimitBucket
from core.ratelimit import Limit, rate_limit_buckets_purge, rate_limit_failure, rate_limit_hit
from core.redis import get_redis
from jobs.models import TaskRun


@pytest.fixture(params=["redis", "database"])
def backend(request, settings, db):
    if request.param == "database":
        settings.REDIS_URL = ""
    return request.param


def test_a_limit_allows_its_quota_then_refuses(backend):
    limit = Limit("minute", "t:quota", 3, 60)
    decisions = [rate_limit_hit([limit]) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert [d.states[0].remaining for d in decisions] == [2, 1, 0, 0]
    refused = decisions[-1].headers()
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused["RateLimit-Policy"] == '"minute";q=3;w=60'
    assert refused["X-RateLimit-Remaining"] == "0"


def test_a_request_of_several_hits_takes_them_all_or_none(backend):
    limit = Limit("minute", "t:cost", 5, 60)
    assert rate_limit_hit([limit]).states[0].remaining == 4
    three = Limit("minute", "t:cost", 5, 60, cost=3)
    assert rate_limit_hit([three]).states[0].remaining == 1
    refused = rate_limit_hit([three])
    assert not refused.allowed and refused.exhausted_limit == "minute"
    assert 1 <= refused.retry_after <= 60
    # Refused, it took none of the room left: a single hit still fits.
    assert rate_limit_hit([limit]).states[0].remaining == 0


def test_a_request_of_several_hits_is_told_to_wait_until_all_of_them_fit(backend):
    import time_machine

    one, three = Limit("minute", "t:wait", 5, 60), Limit("minute", "t:wait", 5, 60, cost=3)
    with time_machine.travel(1_000_000, tick=False):
        assert rate_limit_hit([one]).allowed
    with time_machine.travel(1_000_030, tick=False):
        assert rate_limit_hit([three]).allowed
    with time_machine.travel(1_000_040, tick=False):
        refused = rate_limit_hit([three])
    # The first hit leaving (at 60 s) frees one slot of the three needed; the three after it, at
    # 90 s, free them all.
    assert not refused.allowed and refused.retry_after == 50
    with time_machine.travel(1_000_090.5, tick=False):
        assert rate_limit_hit([three]).allowed


def test_a_client_that_waits_as_told_after_a_racing_hit_is_let_in(backend):
    import time_machine

    limit = Limit("minute", "t:skew", 1, 60)
    with time_machine.travel(1_000_000.9, tick=False):
        assert rate_limit_hit([limit]).allowed
    # Another web process, racing it, stamps its request a moment earlier.
    with time_machine.travel(1_000_000.2, tick=False):
        refused = rate_limit_hit([limit])
    assert not refused.allowed
    wait = int(refused.headers()["Retry-After"])
    assert wait == 61
    with time_machine.travel(1_000_000.2 + wait, tick=False):
        assert rate_limit_hit([limit]).allowed


def test_a_request_refused_by_one_limit_spends_none_of_the_others(backend):
    tight, loose = Limit("minute", "t:tight", 1, 60), Limit("day", "t:loose", 100, 86400)
    assert rate_limit_hit([tight, loose]).allowed
    for _ in range(5):
        assert not rate_limit_hit([tight, loose]).allowed
    assert rate_limit_hit([loose]).states[0].remaining == 98


def test_the_headers_name_the_tightest_limit(backend):
    decision = rate_limit_hit([Limit("minute", "t:a", 10, 60), Limit("day", "t:b", 2, 86400)])
    headers = decision.headers()
    assert headers["X-RateLimit-Limit"] == "2"
    assert headers["RateLimit"].startswith('"day";r=1;')
    assert "Retry-After" not in headers


def test_redis_keeps_the_counters_in_redis(backend):
    rate_limit_hit([Limit("minute", "t:where", 5, 60)])
    if backend == "redis":
        assert get_redis().zcard("rl:t:where") == 1
        assert not RateLimitBucket.objects.exists()
    else:
        assert RateLimitBucket.objects.get(key="t:where").hits


def test_an_attempt_counts_only_when_it_fails_and_none_runs_once_refused(backend):
    one, two = Limit("minute", "t:failures", 3, 60), Limit("minute", "t:failures", 3, 60, cost=2)
    ran = []

    def failing():
        ran.append("failing")

    for limit in (one, two, one):
        decision, found = rate_limit_failure(limit, lambda: "found")
        assert decision.allowed and found == "found"
    assert rate_limit_failure(two, failing)[0].allowed
    refused, found = rate_limit_failure(two, failing)
    assert not refused.allowed and found is None
    assert 1 <= int(refused.headers()["Retry-After"]) <= 60
    assert ran == ["failing"]
    assert rate_limit_hit([one]).states[0].remaining == 0


def test_the_hourly_purge_deletes_the_database_counts_whose_window_has_passed(db, settings):
    from jobs.tasks import jobs_purge

    settings.REDIS_URL = ""
    minute, day = Limit("minute", "t:minute", 2, 60), Limit("day", "t:day", 2, 86400)
    with time_machine.travel(1_000_000, tick=False):
        assert rate_limit_hit([minute]).allowed and rate_limit_hit([day]).allowed
    with time_machine.travel(1_000_061, tick=False):
        assert rate_limit_hit([day]).allowed
        outcome = jobs_purge()
        assert outcome["rate_limit_counts"] == 1
        assert TaskRun.objects.get(name="jobs_purge").counts["rate_limit_counts"] == 1
        assert list(RateLimitBucket.objects.values_list("key", flat=True)) == ["t:day"]
        # The day's count is whole: its limit still holds.
        assert not rate_limit_hit([day]).allowed
    with time_machine.travel(1_000_061 + 86_400, tick=False):
        out = StringIO()
        call_command("purge_jobs", stdout=out)
        assert "1 expired rate-limit counts." in out.getvalue()
        assert not RateLimitBucket.objects.exists()


def test_a_count_the_purge_deletes_as_a_request_reads_it_is_counted_again(db, settings):
    settings.REDIS_URL = ""
    limit = Limit("minute", "t:purged", 2, 60)
    with time_machine.travel(1_000_000, tick=False):
        assert rate_limit_hit([limit]).allowed
    purged = []

    def purge_before_the_lock(execute, sql, params, many, context):
        # The purge, running in another process, deletes the row between its read and its lock.
        if "FOR UPDATE" in sql and not purged:
            purged.append(rate_limit_buckets_purge())
        return execute(sql, params, many, context)

    with (
        time_machine.travel(1_000_061, tick=False),
        connection.execute_wrapper(purge_before_the_lock),
    ):
        assert rate_limit_hit([limit]).states[0].remaining == 1
    assert purged == [1]
    assert len(RateLimitBucket.objects.get(key="t:purged").hits) == 1
