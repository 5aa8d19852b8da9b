import functools
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.cache import caches
from django.db import connection
from django.db.models import Count, IntegerField, Max
from django.db.models.expressions import RawSQL
from django.utils import timezone

from core.queries import column_values
from jobs.models import BeatSeen, Job, Priority, TaskRun, WorkerSeen
from jobs.rows import job_columns, job_from_row

MEAN_DURATION_SAMPLE = 100
MEAN_DURATION_WINDOW_SECONDS = 30
WORKER_SEEN_WITHIN = timedelta(minutes=2)
# Beat records its tick every BEAT_TICK_SECONDS (jobs.signals): a dozen missed, it is gone.
BEAT_SEEN_WITHIN = timedelta(minutes=1)
QUEUE_LOAD_CACHE_SECONDS = 1
MAX_COUNTED_AHEAD = 1_000
# What an operator looks at first, as {filter value: (label, JobQuerySet method)}.
NEEDING_ATTENTION = {
    "stale": ("Worker gone (no heartbeat)", "stale"),
    "waiting": ("Waiting too long", "waiting_too_long"),
    "retrying": ("Retrying after an error", "retrying"),
    "capacity": ("Waiting for a free slot", "waiting_for_slot"),
}


def job_mean_duration(job_type: str) -> float | None:
    """Mean seconds of the type's recent completed jobs, as they stood when the current
    MEAN_DURATION_WINDOW_SECONDS window began: every web process answers the same figure within a
    window (cached in each), so a pending job's representation, and its ETag, do not change with
    the process that serves the poll."""
    window = int(timezone.now().timestamp() // MEAN_DURATION_WINDOW_SECONDS)
    cache_key = f"jobs:mean-duration:{job_type}:{window}"
    cached = caches["local"].get(cache_key)
    if cached is not None:
        return cached or None
    until = datetime.fromtimestamp(window * MEAN_DURATION_WINDOW_SECONDS, tz=UTC)
    recent = (
        Job.objects.filter(
            type=job_type,
            status=Job.Status.COMPLETED,
            finished_at__gte=until - timedelta(days=1),
            finished_at__lt=until,
        )
        .order_by("-finished_at")
        .values_list("started_at", "finished_at")[:MEAN_DURATION_SAMPLE]
    )
    durations = [(end - start).total_seconds() for start, end in recent if start and end]
    mean = sum(durations) / len(durations) if durations else 0.0
    caches["local"].set(cache_key, mean, MEAN_DURATION_WINDOW_SECONDS)
    return mean or None


def queue_load(queue: str) -> tuple[int, int, int]:
    """(due pending, processing, worker processes serving it) of a queue, cached for a second:
    every poll of every pending job asks, and the answer is the same for all of them."""
    cache_key = f"jobs:queue-load:{queue}"
    cached = caches["local"].get(cache_key)
    if cached is None:
        due = Job.objects.due().filter(priority=queue).count()
        active = Job.objects.filter(status=Job.Status.PROCESSING, priority=queue).count()
        cached = (due, active, queue_worker_processes()[queue])
        caches["local"].set(cache_key, cached, QUEUE_LOAD_CACHE_SECONDS)
    return tuple(cached)


def due_ahead_sql(priority: str, created_at: str) -> str:
    """Due pending jobs of a queue created before a point, counted up to a bound (a parameter)."""
    return (
        f"SELECT COUNT(*) FROM (SELECT 1 FROM {Job._meta.db_table} other"
        f" WHERE other.status = %s AND other.priority = {priority}"
        f" AND other.created_at < {created_at}"
        " AND (other.next_retry_at IS NULL OR other.next_retry_at <= %s) LIMIT %s) ahead"
    )


def due_ahead_params() -> list:
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    # Counting is bounded: past MAX_COUNTED_AHEAD the exact figure no longer helps anyone.
    return [Job.Status.PENDING, now, MAX_COUNTED_AHEAD]


def job_for_polling(*, tenant, pk) -> Job | None:
    """The tenant's job, and for a pending one the due jobs ahead of it (as `due_ahead`), in one
    prepared statement: every client polls this, so it is the API's hottest read."""
    job_id = Job._meta.pk.get_db_prep_value(pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(
            _polling_sql(connection.alias),
            [Job.Status.PENDING, *due_ahead_params(), job_id, tenant.pk],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    job = job_from_row(row)
    job.due_ahead = row[-1]
    return job


@functools.cache
def _polling_sql(alias: str) -> str:
    ahead = due_ahead_sql("job.priority", "job.created_at")
    return (
        f"SELECT {job_columns(alias, 'job')}, CASE WHEN job.status = %s THEN ({ahead}) END"
        f" FROM {Job._meta.db_table} job WHERE job.id = %s AND job.tenant_id = %s"
    )


def jobs_with_due_ahead(jobs):
    """Annotate each pending job of a list with the due jobs ahead of it (as `due_ahead`), within
    the list's own query: a page of pending jobs costs no query per job."""
    table = Job._meta.db_table
    ahead = due_ahead_sql(f"{table}.priority", f"{table}.created_at")
    return jobs.annotate(
        due_ahead=RawSQL(
            f"CASE WHEN {table}.status = %s THEN ({ahead}) END",
            [Job.Status.PENDING, *due_ahead_params()],
            output_field=IntegerField(),
        )
    )


def job_queue_position(job: Job) -> dict | None:
    """Where a pending job stands in its queue, and a rough estimate of its wait once due."""
    if job.status != Job.Status.PENDING:
        return None
    ahead = getattr(job, "due_ahead", None)
    if ahead is None:
        created_at = connection.ops.adapt_datetimefield_value(job.created_at)
        status, now, bound = due_ahead_params()
        with connection.cursor() as cursor:
            cursor.execute(
                due_ahead_sql("%s", "%s"), [status, job.priority, created_at, now, bound]
            )
            ahead = cursor.fetchone()[0]
    queue_length, active, processes = queue_load(job.priority)
    queue_length = max(queue_length, ahead + 1)
    mean = job_mean_duration(job.type)
    # Counted from when the job is due: for one waiting for its next attempt, from next_retry_at.
    # A countdown to the retry would change the representation, and its ETag, on every poll.
    # With no worker serving its queue, the job waits until one does: no figure can say how long.
    estimate = None
    if processes and mean is not None:
        estimate = round((ahead // max(active, 1) + 1) * mean, 1)
    return {
        "queue": job.priority,
        "position": ahead + 1,
        "ahead": ahead,
        "queue_length": queue_length,
        "active": active,
        "estimated_wait_seconds": estimate,
        "queue_served": bool(processes),
        "waiting_for_slot_since": job.waiting_since,
    }


def job_counts(queryset) -> list[dict]:
    """Counts by queue, type and status: of every job, read from the queue index, which holds
    those three columns (job_queue_type_idx), without reading the jobs' rows."""
    rows = queryset.order_by().values("priority", "type", "status").annotate(count=Count("*"))
    table: dict[tuple[str, str], dict] = {}
    for row in rows:
        entry = table.setdefault(
            (row["priority"], row["type"]),
            {"queue": row["priority"], "type": row["type"], **dict.fromkeys(Job.Status.values, 0)},
        )
        entry[row["status"]] = row["count"]
    return sorted(table.values(), key=lambda entry: (entry["queue"], entry["type"]))


def workers_seen():
    """The workers that took jobs in the last 2 minutes and have not been told to stop since."""
    return WorkerSeen.objects.filter(
        last_seen_at__gte=timezone.now() - WORKER_SEEN_WITHIN, stopped_at__isnull=True
    )


def beats_ticking() -> list[BeatSeen]:
    """The beats ticking now: seen in the last BEAT_SEEN_WITHIN, not stopped, and seen since the
    newest of them started. A beat killed without recording its stop and started again (a crash, a
    host rebooted) has not ticked since its successor started: one beat, not two."""
    recent = BeatSeen.objects.filter(
        last_seen_at__gte=timezone.now() - BEAT_SEEN_WITHIN, stopped_at__isnull=True
    )
    newest_start = recent.aggregate(newest=Max("started_at"))["newest"]
    return list(recent.filter(last_seen_at__gte=newest_start)) if newest_start else []


def queue_worker_processes() -> dict[str, int]:
    """The worker processes seen serving each queue (`system`, then the job queues, in the order
    workers serve them): at 0, nothing sent there runs, however long it waits."""
    processes = dict.fromkeys((queue.name for queue in settings.CELERY_TASK_QUEUES), 0)
    for queues, concurrency in workers_seen().values_list("queues", "concurrency"):
        for queue in queues.split(","):
            if queue in processes:
                processes[queue] += max(concurrency, 1)
    return processes


def task_run_last(name: str) -> TaskRun | None:
    """A scheduled task's last run: the last that ran, rather than a run skipped because another
    process held its lock (two beats) a moment after."""
    runs = TaskRun.objects.filter(name=name).order_by("-started_at")
    return runs.exclude(outcome=TaskRun.Outcome.SKIPPED).first() or runs.first()


def due_by_workspace(limit: int = 10) -> list[dict]:
    """The workspaces with the most due pending jobs, most first: who is filling the queues."""
    rows = (
        Job.objects.due()
        .order_by()
        .values("tenant_id", "tenant__slug")
        .annotate(count=Count("*"))
        .order_by("-count", "tenant__slug")[:limit]
    )
    return [
        {"tenant_id": row["tenant_id"], "workspace": row["tenant__slug"], "due": row["count"]}
        for row in rows
    ]


def queue_depths() -> dict[str, int]:
    """Due pending jobs per queue, across every workspace: counted in the index of pending jobs
    (job_pending_due_idx), not their rows."""
    rows = Job.objects.due().order_by().values("priority").annotate(count=Count("*"))
    depths = dict.fromkeys(Priority.values, 0)
    depths.update({row["priority"]: row["count"] for row in rows})
    return depths


def job_types_stored() -> list[str]:
    """The types of the stored jobs, read from the type index, not from every job."""
    return column_values(Job, "type")
