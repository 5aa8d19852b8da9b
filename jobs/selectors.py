from datetime import timedelta

from django.core.cache import caches
from django.db.models import Count
from django.utils import timezone

from jobs.models import Job, Priority, TaskRun, WorkerSeen

MEAN_DURATION_SAMPLE = 100
MEAN_DURATION_CACHE_SECONDS = 30
WORKER_SEEN_WITHIN = timedelta(minutes=2)
QUEUE_LOAD_CACHE_SECONDS = 1
MAX_COUNTED_AHEAD = 1_000


def job_mean_duration(job_type: str) -> float | None:
    """Mean seconds of the type's recent completed jobs (cached briefly: polled often)."""
    cache_key = f"jobs:mean-duration:{job_type}"
    cached = caches["local"].get(cache_key)
    if cached is not None:
        return cached or None
    recent = (
        Job.objects.filter(
            type=job_type,
            status=Job.Status.COMPLETED,
            finished_at__gte=timezone.now() - timedelta(days=1),
        )
        .order_by("-finished_at")
        .values_list("started_at", "finished_at")[:MEAN_DURATION_SAMPLE]
    )
    durations = [(end - start).total_seconds() for start, end in recent if start and end]
    mean = sum(durations) / len(durations) if durations else 0.0
    caches["local"].set(cache_key, mean, MEAN_DURATION_CACHE_SECONDS)
    return mean or None


def queue_load(queue: str) -> tuple[int, int]:
    """(due pending, processing) of a queue, cached for a second: every poll of every pending job
    asks, and the answer is the same for all of them."""
    cache_key = f"jobs:queue-load:{queue}"
    cached = caches["local"].get(cache_key)
    if cached is None:
        due = Job.objects.due().filter(priority=queue).count()
        active = Job.objects.filter(status=Job.Status.PROCESSING, priority=queue).count()
        cached = (due, active)
        caches["local"].set(cache_key, cached, QUEUE_LOAD_CACHE_SECONDS)
    return tuple(cached)


def job_queue_position(job: Job) -> dict | None:
    """Where a pending job stands in its queue, and a rough wait estimate."""
    if job.status != Job.Status.PENDING:
        return None
    ahead_of_it = Job.objects.due().filter(priority=job.priority, created_at__lt=job.created_at)
    # Counting is bounded: past MAX_COUNTED_AHEAD the exact figure no longer helps anyone.
    ahead = ahead_of_it[:MAX_COUNTED_AHEAD].count()
    queue_length, active = queue_load(job.priority)
    queue_length = max(queue_length, ahead + 1)
    mean = job_mean_duration(job.type)
    estimate = None
    if mean is not None:
        estimate = round((ahead // max(active, 1) + 1) * mean, 1)
        if job.next_retry_at and job.next_retry_at > timezone.now():
            estimate += (job.next_retry_at - timezone.now()).total_seconds()
    return {
        "queue": job.priority,
        "position": ahead + 1,
        "ahead": ahead,
        "queue_length": queue_length,
        "active": active,
        "estimated_wait_seconds": estimate,
    }


def job_counts(queryset) -> list[dict]:
    """Counts by queue, type and status."""
    rows = queryset.order_by().values("priority", "type", "status").annotate(count=Count("id"))
    table: dict[tuple[str, str], dict] = {}
    for row in rows:
        entry = table.setdefault(
            (row["priority"], row["type"]),
            {"queue": row["priority"], "type": row["type"], **dict.fromkeys(Job.Status.values, 0)},
        )
        entry[row["status"]] = row["count"]
    return sorted(table.values(), key=lambda entry: (entry["queue"], entry["type"]))


def workers_seen():
    return WorkerSeen.objects.filter(last_seen_at__gte=timezone.now() - WORKER_SEEN_WITHIN)


def task_runs_latest() -> list[TaskRun]:
    """The last run of every scheduled task."""
    names = TaskRun.objects.order_by().values_list("name", flat=True).distinct()
    latest = []
    for name in sorted(names):
        latest.append(TaskRun.objects.filter(name=name).order_by("-started_at").first())
    return latest


def queue_depths() -> dict[str, int]:
    """Due pending jobs per queue, across every workspace."""
    rows = Job.objects.due().order_by().values("priority").annotate(count=Count("id"))
    depths = dict.fromkeys(Priority.values, 0)
    depths.update({row["priority"]: row["count"] for row in rows})
    return depths
