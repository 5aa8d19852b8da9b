import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import TenantScopedQuerySet


class Priority(models.TextChoices):
    URGENT = "urgent", "Urgent"
    NORMAL = "normal", "Normal"
    BATCH = "batch", "Batch"


def stale_before(now=None):
    """A processing job whose last heartbeat is older than this has lost its worker."""
    return (now or timezone.now()) - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS)


# When a pending job became due: its submission, or the time its retry, its requeue or its return
# to the queue set (next_retry_at). How long it has waited counts from there.
DUE_SINCE = Coalesce("next_retry_at", "created_at")


class JobQuerySet(TenantScopedQuerySet):
    def update(self, **values):
        # Every state change is an UPDATE, not a save(): auto_now alone would never move.
        values.setdefault("updated_at", timezone.now())
        return super().update(**values)

    def dead_letter(self):
        return self.filter(status=Job.Status.FAILED)

    def due(self, now=None):
        now = now or timezone.now()
        return self.filter(status=Job.Status.PENDING).filter(
            models.Q(next_retry_at__isnull=True) | models.Q(next_retry_at__lte=now)
        )

    def stale(self, now=None):
        """Processing, but its worker stopped sending heartbeats: the reaper's next catch."""
        return self.filter(status=Job.Status.PROCESSING, heartbeat_at__lt=stale_before(now))

    def waiting_too_long(self, now=None):
        """Due for longer than OPS_MAX_PENDING_AGE_SECONDS: no worker takes them. A job waiting for
        a free slot (waiting_for_slot) is not among them: its cap holds it, not a missing worker."""
        now = now or timezone.now()
        limit = timedelta(seconds=settings.OPS_MAX_PENDING_AGE_SECONDS)
        return (
            self.due(now)
            .filter(waiting_since__isnull=True)
            .alias(due_since=DUE_SINCE)
            .filter(due_since__lt=now - limit)
        )

    def waiting_for_slot(self, now=None):
        """Due, but their type or workspace is at its concurrency cap: they start in turn."""
        return self.due(now).filter(waiting_since__isnull=False)

    def retrying(self, now=None):
        """Failed an attempt and waiting for the next one."""
        return self.filter(
            status=Job.Status.PENDING, attempts__gt=0, next_retry_at__gt=now or timezone.now()
        )


class Job(models.Model):
    """A unit of background work. This row is the truth; the broker only carries wake-ups."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELED = "canceled", "Canceled"

    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed with other columns (Meta.indexes) only: every index is written by every submit.
    tenant = models.ForeignKey(
        "accounts.Tenant", on_delete=models.CASCADE, related_name="jobs", db_index=False
    )
    type = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    priority = models.CharField(max_length=16, choices=Priority.choices, default=Priority.NORMAL)
    progress = models.PositiveSmallIntegerField(default=0)
    progress_message = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    next_retry_at = models.DateTimeField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="When a wake-up was last published to the broker."
    )
    waiting_since = models.DateTimeField(
        null=True,
        blank=True,
        help_text="When the job first found its type or workspace at its concurrency cap; "
        "cleared when it starts. Waiting jobs start oldest first.",
    )
    result = models.JSONField(null=True, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.TextField(blank=True)
    idempotency_key = models.CharField(max_length=255, blank=True)
    credits_charged = models.PositiveIntegerField(default=0)
    api_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="jobs"
    )
    submitted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    retry_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retries",
        db_index=False,
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = JobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The type too, so that the dashboard's counts by status, queue and type read this
            # index alone rather than every job's row, payload and result included.
            models.Index(
                fields=["status", "priority", "created_at"],
                include=["type"],
                name="job_queue_type_idx",
            ),
            # Queue positions count due pending jobs of a queue, and the dashboard counts them by
            # queue and workspace, those retrying and those waiting too long: this index answers
            # each alone, however long the backlog, without reading the jobs' rows.
            models.Index(
                fields=["priority", "created_at"],
                include=["next_retry_at", "tenant", "waiting_since", "attempts"],
                condition=models.Q(status="pending"),
                name="job_pending_due_idx",
            ),
            # The sweeper's oldest pending jobs, without walking the finished ones before them.
            models.Index(
                fields=["created_at"],
                condition=models.Q(status="pending"),
                name="job_pending_created_idx",
            ),
            models.Index(fields=["tenant", "status", "created_at"], name="job_tenant_status_idx"),
            # A workspace's list, newest first, without passing over other workspaces' jobs.
            models.Index(fields=["tenant", "created_at"], name="job_tenant_created_idx"),
            # A type's recent durations (queue estimates) and outcomes (the PDF failure alert).
            models.Index(
                fields=["type", "finished_at"],
                include=["status", "started_at"],
                condition=models.Q(finished_at__isnull=False),
                name="job_type_finished_idx",
            ),
            # Without LIKE's second index, which no query here needs.
            models.Index(fields=["type"], name="job_type_idx"),
            # Most jobs are neither retries nor submitted from the admin: their rows stay out of
            # the indexes that find a deleted user's or a purged job's references.
            models.Index(
                fields=["submitted_by"],
                condition=models.Q(submitted_by__isnull=False),
                name="job_submitted_by_idx",
            ),
            models.Index(
                fields=["retry_of"],
                condition=models.Q(retry_of__isnull=False),
                name="job_retry_of_idx",
            ),
            # Jobs waiting for a free slot of their capped type, in the order they take one.
            models.Index(
                fields=["type", "priority", "created_at"],
                condition=models.Q(status="pending", waiting_since__isnull=False),
                name="job_capacity_waiters_idx",
            ),
            models.Index(
                fields=["heartbeat_at"],
                condition=models.Q(status="processing"),
                name="job_processing_heartbeat_idx",
            ),
        ]

    def __str__(self):
        return f"{self.type} {self.id} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def queue(self) -> str:
        return self.priority


class TaskRun(models.Model):
    """One run of a scheduled system task: when, how it ended, and what it did."""

    class Outcome(models.TextChoices):
        RUNNING = "running", "Running"
        OK = "ok", "OK"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    name = models.CharField(max_length=100, db_index=True)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    counts = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [
            models.Index(fields=["name", "-started_at"], name="taskrun_name_started_idx"),
            # The admin's list of every task's runs, newest first (the id breaks ties, as it does).
            models.Index(fields=["started_at", "id"], name="taskrun_started_idx"),
        ]

    def __str__(self):
        return f"{self.name} at {self.started_at:%Y-%m-%d %H:%M:%S} ({self.outcome})"

    @property
    def duration(self):
        return self.finished_at - self.started_at if self.finished_at else None


class JobEvent(models.Model):
    """A line in a job's history: attempts that started or failed, retries, reaping, cancels."""

    class Kind(models.TextChoices):
        STARTED = "started", "Attempt started"
        RETRY = "retry", "Retry scheduled"
        FAILED = "failed", "Failed"
        REAPED = "reaped", "Reaped (worker lost)"
        CANCELED = "canceled", "Canceled"
        REQUEUED = "requeued", "Requeued"
        WAITING = "waiting", "Waiting for capacity"
        CANCEL_REQUESTED = "cancel_requested", "Cancel asked of the running attempt"

    job = models.ForeignKey(Job, on_delete=models.CASCADE, related_name="events")
    attempt = models.PositiveIntegerField(default=0)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    message = models.TextField(blank=True)
    # The workspace reads the message, where the platform's staff and commands are only "an
    # operator"; who it was stays here, for staff. A database default too: the engine's own SQL
    # writes attempts started and waits for capacity without naming this column.
    actor = models.CharField(
        "asked by",
        max_length=200,
        blank=True,
        default="",
        db_default="",
        help_text="Who asked for a cancel or a requeue. The workspace never sees it.",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        # The admin lists every job's events newest first; one job's come through the job_id index.
        indexes = [models.Index(fields=["created_at", "id"], name="jobevent_created_idx")]

    def __str__(self):
        return f"{self.kind} (attempt {self.attempt})"


class WorkerSeen(models.Model):
    """A worker process's last sign of life, written by the worker itself every few seconds, and
    when it was told to stop (from then on it takes no more jobs)."""

    hostname = models.CharField(max_length=255, unique=True)
    pid = models.PositiveIntegerField(default=0)
    queues = models.CharField(max_length=255, blank=True)
    concurrency = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now, db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "workers seen"
        ordering = ["-last_seen_at"]

    def __str__(self):
        return self.hostname


class BeatSeen(models.Model):
    """A beat process's last tick, written by beat itself every few seconds, and when it stopped.
    Two beats ticking at once send every schedule twice."""

    hostname = models.CharField(max_length=255)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_seen_at = models.DateTimeField(db_index=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "beats seen"
        ordering = ["-last_seen_at"]
        constraints = [
            models.UniqueConstraint(fields=["hostname", "pid"], name="beatseen_hostname_pid_uniq")
        ]

    def __str__(self):
        return f"{self.hostname} (pid {self.pid})"
