"""A Redis outage is logged once by each background loop that needs Redis, with one traceback,
and its end once: not a warning and a traceback every second from every process."""

import logging
import threading

from accounts import keycache
from core.metrics import metric_inc, metrics_flush
from core.redis import get_redis
from tests.worker import READY_TIMEOUT, wait_for

UNREACHABLE = "redis://127.0.0.1:1/0"


def _warnings(caplog, logger: str) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == logger and record.levelno >= logging.WARNING
    ]


def _retries(caplog) -> list[logging.LogRecord]:
    return [
        record
        for record in caplog.records
        if record.name == "accounts.keycache" and record.levelno == logging.DEBUG
    ]


def test_the_key_listener_logs_a_lost_redis_once_while_it_retries_every_second(caplog):
    with caplog.at_level(logging.DEBUG, logger="accounts.keycache"):
        threading.Thread(target=keycache._listen, args=(UNREACHABLE,), daemon=True).start()
        # Three attempts, a second apart: the first is the warning, the two after it retries.
        wait_for(
            lambda: len(_retries(caplog)) >= 2,
            timeout=READY_TIMEOUT,
            message="the listener to retry twice",
        )
    (warning,) = _warnings(caplog, "accounts.keycache")
    assert warning.exc_info is not None
    assert "keeps no copies of keys until it subscribes again" in warning.getMessage()
    # A second apart, not a loop hammering the unreachable server.
    first, second = _retries(caplog)[:2]
    assert second.created - first.created >= keycache.RECONNECT_SECONDS


def test_metrics_log_an_outage_once_keep_their_counts_and_log_the_recovery(caplog, settings):
    redis_url = settings.REDIS_URL
    settings.REDIS_URL = UNREACHABLE
    with caplog.at_level(logging.DEBUG, logger="core.metrics"):
        metric_inc("jobs_submitted", type="diagnostic")
        for _ in range(3):
            metrics_flush()
        (warning,) = _warnings(caplog, "core.metrics")
        assert warning.exc_info is not None
        settings.REDIS_URL = redis_url
        metrics_flush()
    assert "Metrics are recorded again." in [
        record.getMessage() for record in caplog.records if record.levelno == logging.INFO
    ]
    counted = get_redis().hgetall("metrics:jobs_submitted")
    assert {field.decode(): float(value) for field, value in counted.items()} == {
        '{"type":"diagnostic"}': 1.0
    }


def test_metrics_a_process_cannot_send_as_it_exits_are_one_line_saying_so(caplog, settings):
    settings.REDIS_URL = UNREACHABLE
    with caplog.at_level(logging.DEBUG, logger="core.metrics"):
        metric_inc("jobs_submitted", type="diagnostic")
        metrics_flush(at_exit=True)
    (warning,) = _warnings(caplog, "core.metrics")
    assert warning.exc_info is None
    assert warning.getMessage().startswith(
        "Could not record metrics ['jobs_submitted'] before exiting: "
    )
