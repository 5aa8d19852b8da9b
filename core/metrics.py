"""Application metrics shared by every web and worker process.

Counters and histograms live in Redis (one hash per metric), so that /metrics answers the same
totals whichever gunicorn worker serves the scrape, and includes what Celery workers counted.
Without Redis (the embedded default) the database keeps them (MetricValue), the same way.
"""

import atexit
import json
import logging
import os
import threading
import time
from collections import defaultdict

import redis
from django.db import connection
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

from core.logging import OutageLog
from core.redis import get_redis
from core.threads import daemon_thread_start

logger = logging.getLogger(__name__)

PREFIX = "offload_"
DEFAULT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)

COUNTERS: dict[str, str] = {}
HISTOGRAMS: dict[str, tuple[str, tuple[float, ...]]] = {}

FLUSH_INTERVAL_SECONDS = 1.0

# Deltas not yet sent to Redis or the database.
_pending: dict[str, defaultdict] = defaultdict(lambda: defaultdict(float))
_lock = threading.Lock()
_outage = OutageLog(logger)
_flusher_pid: int | None = None


def counter(name: str, documentation: str) -> str:
    COUNTERS[name] = documentation
    return name


def histogram(name: str, documentation: str, buckets=DEFAULT_BUCKETS) -> str:
    HISTOGRAMS[name] = (documentation, tuple(buckets))
    return name


JOBS_SUBMITTED = counter("jobs_submitted", "Jobs accepted at submit.")
JOBS_COMPLETED = counter("jobs_completed", "Jobs that completed.")
JOBS_FAILED = counter("jobs_failed", "Jobs that failed for good (the dead letter).")
JOBS_RETRIED = counter("jobs_retried", "Failed attempts that were scheduled to run again.")
RATE_LIMIT_REJECTIONS = counter("rate_limit_rejections", "Requests refused by a rate limit.")
ALERTS_CREATED = counter("alerts_created", "Admin alerts raised.")
JOB_DURATION = histogram("job_duration_seconds", "How long a successful attempt took.")
JOB_QUEUE_WAIT = histogram("job_queue_wait_seconds", "How long a job waited from due to claimed.")
PDF_RENDER = histogram("pdf_render_seconds", "How long rendering one invoice PDF took.")


def _field(labels: dict) -> str:
    return json.dumps(labels, sort_keys=True, separators=(",", ":"))


def metric_inc(name: str, amount: float = 1, **labels) -> None:
    _write(name, {_field(labels): amount})


def metric_observe(name: str, value: float, **labels) -> None:
    field = _field(labels)
    _, buckets = HISTOGRAMS[name]
    updates = {f"{field}|count": 1, f"{field}|sum": value}
    # Only the smallest bucket that holds the value is counted; the scrape adds them up.
    bound = next((bound for bound in buckets if value <= bound), None)
    if bound is not None:
        updates[f"{field}|le:{bound}"] = 1
    _write(name, updates)


def _write(name: str, updates: dict[str, float]) -> None:
    """Add to this process's pending deltas; a background thread sends them once a second, in one
    round trip, so that counting costs the work being counted nothing."""
    with _lock:
        target = _pending[name]
        _flusher_ensure()
        for field, amount in updates.items():
            target[field] += amount


def metrics_flush(*, at_exit: bool = False) -> None:
    """Send this process's pending deltas now (before a scrape, and at process exit)."""
    with _lock:
        writes = {name: dict(updates) for name, updates in _pending.items() if updates}
        _pending.clear()
    if not writes:
        return
    try:
        client = get_redis()
        if client is None:
            _add_in_database(writes)
            return
        with client.pipeline(transaction=False) as pipe:
            for name, updates in writes.items():
                for field, amount in updates.items():
                    pipe.hincrbyfloat(f"metrics:{name}", field, amount)
            pipe.execute()
        _outage.recovered("Metrics are recorded again.")
    except Exception as exc:  # noqa: BLE001 - a metric must never break the work it measures
        if at_exit:
            # No later try: one line (a command's operator sees it), not a traceback.
            logger.warning("Could not record metrics %s before exiting: %s", sorted(writes), exc)
            return
        _outage.failed("Could not record metrics %s; will try again.", sorted(writes))
        with _lock:
            for name, updates in writes.items():
                for field, amount in updates.items():
                    _pending[name][field] += amount


def _add_in_database(writes: dict[str, dict[str, float]]) -> None:
    from django.db import IntegrityError, transaction
    from django.db.models import F

    from core.models import MetricValue

    with transaction.atomic():
        for name, updates in writes.items():
            for field, amount in updates.items():
                added = MetricValue.objects.filter(name=name, field=field).update(
                    value=F("value") + amount
                )
                if added:
                    continue
                try:
                    with transaction.atomic():
                        MetricValue.objects.create(name=name, field=field, value=amount)
                except IntegrityError:  # another process created it meanwhile
                    MetricValue.objects.filter(name=name, field=field).update(
                        value=F("value") + amount
                    )


def _flusher_ensure() -> None:
    """Start this process's flusher thread (again after a fork: threads do not survive one)."""
    global _flusher_pid
    if _flusher_pid == os.getpid():
        return
    _flusher_pid = os.getpid()
    daemon_thread_start(_flush_forever, name="offload-metrics")


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_INTERVAL_SECONDS)
        metrics_flush()
        # Without Redis the flush wrote on this thread's own connection: none is kept open between
        # flushes, or every process would hold one more session for its whole life.
        connection.close()


def _read(name: str) -> dict[str, float]:
    client = get_redis()
    if client is None:
        from core.models import MetricValue

        return dict(MetricValue.objects.filter(name=name).values_list("field", "value"))
    return {key.decode(): float(value) for key, value in client.hgetall(f"metrics:{name}").items()}


def _counter_family(name: str, documentation: str) -> CounterMetricFamily:
    rows = [(json.loads(field), value) for field, value in sorted(_read(name).items())]
    label_names = sorted(rows[0][0]) if rows else []
    family = CounterMetricFamily(PREFIX + name, documentation, labels=label_names)
    for labels, value in rows:
        family.add_metric([str(labels.get(key, "")) for key in label_names], value)
    return family


def _histogram_family(name: str, documentation: str, buckets) -> HistogramMetricFamily:
    series: dict[str, dict[str, float]] = defaultdict(dict)
    for key, value in _read(name).items():
        field, _, part = key.rpartition("|")
        series[field][part] = value
    label_names = sorted(json.loads(next(iter(series)))) if series else []
    family = HistogramMetricFamily(PREFIX + name, documentation, labels=label_names)
    for field, parts in sorted(series.items()):
        labels = json.loads(field)
        cumulative, running = [], 0.0
        for bound in buckets:
            running += parts.get(f"le:{bound}", 0.0)
            cumulative.append((str(bound), running))
        cumulative.append(("+Inf", parts.get("count", 0.0)))
        family.add_metric(
            [str(labels.get(key, "")) for key in label_names], cumulative, parts.get("sum", 0.0)
        )
    return family


class SharedMetricsCollector:
    """A prometheus_client collector that reads the shared counters and histograms. With Redis out
    of reach it leaves them out, and says so (offload_shared_metrics_up 0), so that a scrape still
    has the rest: the queues, read from the database, matter most during an outage."""

    def collect(self):
        metrics_flush()
        try:
            families = [
                *(_counter_family(name, text) for name, text in COUNTERS.items()),
                *(_histogram_family(name, *spec) for name, spec in HISTOGRAMS.items()),
            ]
        except redis.RedisError:
            families = None
        yield from families or []
        up = GaugeMetricFamily(
            PREFIX + "shared_metrics_up",
            "1 when the shared counters and histograms could be read; 0 leaves them out.",
        )
        up.add_metric([], 0 if families is None else 1)
        yield up


def _after_fork_in_child() -> None:
    """A forked process (a pool or gunicorn worker) starts with nothing pending: the parent sends
    its own deltas, and a lock its flusher held at the fork would never be released here."""
    global _lock
    _lock = threading.Lock()
    _pending.clear()


atexit.register(metrics_flush, at_exit=True)
os.register_at_fork(after_in_child=_after_fork_in_child)
