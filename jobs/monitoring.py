"""Operations: the 5-minute health check that alerts platform staff, and the /metrics endpoint."""

from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.db.models import Count, Max, Min, Q
from django.http import HttpResponse
from django.template.defaultfilters import pluralize
from django.utils import timezone
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily

from accounts.models import Notification
from accounts.services import notification_resolve, notify_admins
from core.errors import problem_response
from core.health import monitoring_allowed
from core.metrics import SharedMetricsCollector
from jobs.models import DUE_SINCE, Job, Priority, TaskRun, WorkerSeen
from jobs.selectors import beats_ticking, queue_worker_processes, workers_seen

BUDGET_CHECK = "budget_alert_check"
SHARE_LINK_CLEANUP = "share_link_cleanup"
INVOICE_PDF = "invoice_pdf"
HEALTH_CHECK = "ops_health_check"
HEALTH_CHECK_SCHEDULE = "ops-health-check"


@dataclass(frozen=True)
class Finding:
    key: str
    title: str
    payload: dict


def _budget_check_late(now) -> Finding | None:
    max_age = timedelta(minutes=settings.OPS_BUDGET_CHECK_MAX_AGE_MINUTES)
    recent = TaskRun.objects.filter(
        name=BUDGET_CHECK, outcome=TaskRun.Outcome.OK, finished_at__gte=now - max_age
    )
    # Only once the schedules have been running that long: a fresh install is not late.
    running_long_enough = TaskRun.objects.filter(started_at__lt=now - max_age).exists()
    if recent.exists() or not running_long_enough:
        return None
    last = TaskRun.objects.filter(name=BUDGET_CHECK, outcome=TaskRun.Outcome.OK).first()
    return Finding(
        "budget-check-late",
        f"The budget check has not completed for {settings.OPS_BUDGET_CHECK_MAX_AGE_MINUTES} minutes",
        {"last_success": last.finished_at.isoformat() if last else "never"},
    )


def _pdf_failures(now) -> Finding | None:
    counts = Job.objects.filter(
        type=INVOICE_PDF, finished_at__gte=now - timedelta(hours=1)
    ).aggregate(
        failed=Count("id", filter=Q(status=Job.Status.FAILED)),
        done=Count("id", filter=Q(status__in=[Job.Status.FAILED, Job.Status.COMPLETED])),
    )
    if counts["done"] < settings.OPS_PDF_FAILURE_MIN_SAMPLE:
        return None
    rate = counts["failed"] / counts["done"]
    if rate <= settings.OPS_PDF_FAILURE_RATE:
        return None
    return Finding(
        "pdf-failure-rate",
        f"{rate:.0%} of invoice PDFs failed in the last hour",
        {"failed": counts["failed"], "finished": counts["done"]},
    )


def _cleanup_failures(now) -> Finding | None:
    # Only a run that did the cleanup counts: one skipped (another held the lock) or one that
    # crashed says nothing about the links, and must not close the alert.
    last = TaskRun.objects.filter(name=SHARE_LINK_CLEANUP, outcome=TaskRun.Outcome.OK).first()
    failed = int((last.counts or {}).get("failed", 0)) if last else 0
    if failed <= settings.OPS_CLEANUP_MAX_FAILURES:
        return None
    return Finding(
        "share-link-cleanup-failures",
        f"The last share-link cleanup failed for {failed} links",
        {"run_started": last.started_at.isoformat(), "failed": failed},
    )


def _no_worker(now) -> Finding | None:
    silent_since = now - timedelta(seconds=settings.OPS_WORKER_SILENT_SECONDS)
    if WorkerSeen.objects.filter(last_seen_at__gte=silent_since).exists():
        return None
    last = WorkerSeen.objects.first()
    return Finding(
        "no-worker",
        f"No worker has been seen for {settings.OPS_WORKER_SILENT_SECONDS} "
        f"second{pluralize(settings.OPS_WORKER_SILENT_SECONDS)}",
        {"last_seen": last.last_seen_at.isoformat() if last else "never"},
    )


def _queues_unserved(now) -> Finding | None:
    """A queue no worker has served for OPS_WORKER_SILENT_SECONDS, while others were served: its
    jobs never start, or without `system` the schedules never run. With no worker at all,
    _no_worker says so."""
    silent_since = now - timedelta(seconds=settings.OPS_WORKER_SILENT_SECONDS)
    served = {
        queue
        for queues in WorkerSeen.objects.filter(last_seen_at__gte=silent_since).values_list(
            "queues", flat=True
        )
        for queue in queues.split(",")
    }
    queues = [queue.name for queue in settings.CELERY_TASK_QUEUES]
    unserved = [queue for queue in queues if queue not in served]
    if not unserved or len(unserved) == len(queues):
        return None
    return Finding(
        "queues-unserved",
        f"No worker has served the {', '.join(unserved)} queue{pluralize(len(unserved))} for "
        f"{settings.OPS_WORKER_SILENT_SECONDS} second{pluralize(settings.OPS_WORKER_SILENT_SECONDS)}",
        {"queues": unserved},
    )


def _pending_too_long(now) -> Finding | None:
    # The jobs the dashboard counts as waiting too long: those waiting for a free slot of their
    # capped type are held by the cap, not left by the workers, and start in turn.
    oldest = Job.objects.waiting_too_long(now).aggregate(oldest=Min(DUE_SINCE))["oldest"]
    if oldest is None:
        return None
    waited = (now - oldest).total_seconds()
    return Finding(
        "pending-too-long",
        f"The oldest due job has waited {waited:.0f} seconds for a worker",
        {
            "oldest_due_since": oldest.isoformat(),
            "limit_seconds": settings.OPS_MAX_PENDING_AGE_SECONDS,
        },
    )


def _several_beats(now) -> Finding | None:
    """Two beats (or more) ticking at once: each sends every schedule, so the interval ones run
    twice as often and a run at a set time finds the other's lock taken (recorded `skipped`)."""
    beats = beats_ticking()
    if len(beats) < 2:
        return None
    return Finding(
        "several-beats",
        f"{len(beats)} beats are running: every schedule is sent {len(beats)} times; stop all but one",
        {"beats": [str(beat) for beat in beats]},
    )


OPS_CHECKS = [
    _budget_check_late,
    _pdf_failures,
    _cleanup_failures,
    _no_worker,
    _queues_unserved,
    _pending_too_long,
    _several_beats,
]


def ops_health_check_if_late() -> dict | None:
    """Run the health check in this process when no worker has run it for
    OPS_HEALTH_CHECK_FALLBACK_SECONDS and it is not paused. Beat calls this: the alert that every
    worker is gone must not wait for a worker to send it. None when it was not late."""
    from django_celery_beat.models import PeriodicTask

    from jobs.runs import scheduled_run

    since = timezone.now() - timedelta(seconds=settings.OPS_HEALTH_CHECK_FALLBACK_SECONDS)
    if TaskRun.objects.filter(name=HEALTH_CHECK, started_at__gte=since).exists():
        return None
    if PeriodicTask.objects.filter(name=HEALTH_CHECK_SCHEDULE, enabled=False).exists():
        return None
    return scheduled_run(HEALTH_CHECK, ops_health_check, lock_ttl=240)


def ops_health_check() -> dict:
    """Raise each finding as a platform alert (once while open) and resolve the ones that cleared."""
    now = timezone.now()
    raised, resolved = [], 0
    for check in OPS_CHECKS:
        finding = check(now)
        key = f"ops:{check.__name__.lstrip('_').replace('_', '-')}"
        if finding is None:
            resolved += notification_resolve(tenant=None, alert_key=key)
            continue
        notify_admins(
            tenant=None,
            kind=Notification.Kind.OPS,
            title=finding.title,
            payload=finding.payload,
            alert_key=key,
        )
        raised.append(finding.key)
    return {"findings": raised, "resolved": resolved}


class DatabaseGaugesCollector:
    """Gauges read from the database at scrape time: the same answer from every process. With the
    database out of reach it leaves them out, and says so (offload_database_gauges_up 0), so that a
    scrape still has the shared counters."""

    def collect(self):
        try:
            families = list(self._families())
        except DatabaseError:
            families = None
        yield from families or []
        up = GaugeMetricFamily(
            "offload_database_gauges_up",
            "1 when the gauges read from the database could be read; 0 leaves them out.",
        )
        up.add_metric([], 0 if families is None else 1)
        yield up

    def _families(self):
        now = timezone.now()
        pending = GaugeMetricFamily(
            "offload_queue_pending", "Due pending jobs per queue.", labels=["queue"]
        )
        oldest = GaugeMetricFamily(
            "offload_queue_oldest_pending_seconds",
            "How long the longest-waiting due pending job has been due.",
            labels=["queue"],
        )
        rows = dict.fromkeys(Priority.values, (0, None))
        for row in (
            Job.objects.due(now)
            .order_by()
            .values("priority")
            .annotate(n=Count("id"), oldest=Min(DUE_SINCE))
        ):
            rows[row["priority"]] = (row["n"], row["oldest"])
        for queue, (count, first) in rows.items():
            pending.add_metric([queue], count)
            oldest.add_metric([queue], (now - first).total_seconds() if first else 0)
        yield pending
        yield oldest
        waiting = GaugeMetricFamily(
            "offload_jobs_waiting_for_slot",
            "Due jobs waiting for a free slot of their capped type.",
            labels=["type"],
        )
        for type_name, count in (
            Job.objects.waiting_for_slot(now).order_by().values_list("type").annotate(n=Count("id"))
        ):
            waiting.add_metric([type_name], count)
        yield waiting
        last_success = GaugeMetricFamily(
            "offload_schedule_last_success_timestamp_seconds",
            "When each scheduled task last completed successfully.",
            labels=["schedule"],
        )
        successes = (
            TaskRun.objects.filter(outcome=TaskRun.Outcome.OK)
            .order_by()
            .values("name")
            .annotate(last=Max("finished_at"))
        )
        for row in successes:
            last_success.add_metric([row["name"]], row["last"].timestamp())
        yield last_success
        workers = GaugeMetricFamily(
            "offload_workers_seen", "Workers seen in the last 2 minutes, not told to stop since."
        )
        workers.add_metric([], workers_seen().count())
        yield workers
        beats = GaugeMetricFamily(
            "offload_beats_running",
            "Beats ticking now: at 0 no schedule is sent, above 1 every schedule is sent as many times.",
        )
        beats.add_metric([], len(beats_ticking()))
        yield beats
        processes = GaugeMetricFamily(
            "offload_queue_worker_processes",
            "Worker processes seen serving each queue; at 0 nothing sent there runs.",
            labels=["queue"],
        )
        for queue, count in queue_worker_processes().items():
            processes.add_metric([queue], count)
        yield processes
        alerts = GaugeMetricFamily(
            "offload_open_alerts",
            "Open alerts by kind, each once however many admins it went to.",
            labels=["kind"],
        )
        open_alerts = Counter(
            kind
            for kind, _tenant, _key in Notification.objects.filter(resolved_at__isnull=True)
            .exclude(alert_key="")
            .order_by()
            .values_list("kind", "tenant", "alert_key")
            .distinct()
        )
        for kind, count in sorted(open_alerts.items()):
            alerts.add_metric([kind], count)
        yield alerts


def metrics_view(request):
    if not monitoring_allowed(request):
        return problem_response(
            status_code=403,
            code="FORBIDDEN",
            title="Forbidden",
            detail="Metrics need the metrics token.",
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(SharedMetricsCollector())
    registry.register(DatabaseGaugesCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
