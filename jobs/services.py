"""The job engine: submit, dispatch, claim, execute, retry, cancel, reap, sweep and purge.

The Job row is the truth and every state change is one conditional UPDATE on it, so that a
duplicate message, a late worker or a second beat can never move a job twice.
"""

import logging
import os
import random
import signal
import socket
import uuid
from collections import defaultdict
from collections.abc import Callable
from contextlib import contextmanager, nullcontext, suppress
from datetime import timedelta
from functools import partial

from celery.exceptions import SoftTimeLimitExceeded
from celery.worker import state as worker_state
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Value
from django.db.models.functions import Coalesce
from django.template.defaultfilters import pluralize
from django.utils import timezone
from django.utils.text import Truncator
from psycopg import pq
from rest_framework.exceptions import ValidationError

from accounts.models import ApiKey, Tenant
from accounts.services import credits_debit, credits_refund
from core.deletion import delete_in_batches
from core.errors import ApiError, Conflict, InvalidRequest, RateLimited
from core.metrics import (
    JOB_DURATION,
    JOB_QUEUE_WAIT,
    JOBS_COMPLETED,
    JOBS_FAILED,
    JOBS_RETRIED,
    JOBS_SUBMITTED,
    RATE_LIMIT_REJECTIONS,
    metric_inc,
    metric_observe,
)
from core.ratelimit import Limit, rate_limit_hit
from core.request_context import bind_log_context, unbind_log_context
from core.threads import STOP_SIGNALS
from jobs.broker import broker_is_filesystem, queue_backlogs
from jobs.context import JobContext
from jobs.errors import (
    JobCanceled,
    JobError,
    JobLost,
    PermanentError,
    RetryableError,
    WaitForCapacity,
)
from jobs.heartbeat import heartbeat_while_running
from jobs.models import Job, JobEvent, Priority, stale_before
from jobs.registry import DEFAULT_TIME_LIMIT, JobType, job_type_get, job_types
from jobs.rows import (
    job_attempt_row,
    job_columns,
    job_from_row,
    job_insert_sql,
    job_insert_values,
)
from jobs.selectors import due_ahead_params, due_ahead_sql

logger = logging.getLogger(__name__)
# An error's message, as long as 5,000 characters in the job, is cut to this in a log line.
LOGGED_MESSAGE_MAX = 500

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 300.0
# The longest wait an error's own Retry-After may set before the next attempt (a type whose
# schedule waits longer may wait as long as its schedule's longest delay).
RETRY_AFTER_CAP_SECONDS = 600.0
WAITING_BEHIND_OLDER = "Older jobs waiting for a free slot start first."
# Jobs waiting for a slot are read this many at a time, in the order they take one.
WAITERS_PAGE = 100
# What an API client reads when an attempt ends on an error the handler did not describe: the
# exception's own text can hold SQL, file paths or hostnames, so it goes to the logs only.
INTERNAL_ERROR_MESSAGE = "The job failed on an unexpected error; operators have the details."
STORAGE_ERROR_MESSAGE = "A storage or network operation failed; operators have the details."
CANCELED_MESSAGE = "Canceled on request."
# Why a deactivated workspace's jobs are canceled, as their history says it.
WORKSPACE_DEACTIVATED = "as its workspace was deactivated"
WORKSPACE_INACTIVE = "as its workspace is inactive"
# Publishing must not hold a request for long when the broker is down: the sweeper covers it.
PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
SWEEP_BATCH = 1000
HOSTNAME = socket.gethostname()
REAP_BATCH = 500
# The reaper's warning names this many of the jobs it took; each has its own INFO line.
REAP_LOGGED_IDS = 10


def retry_delay(job_type: JobType | None, attempt: int) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based)."""
    if job_type is not None and job_type.retry_delays:
        return float(job_type.retry_delays[min(attempt, len(job_type.retry_delays)) - 1])
    delay = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))
    return delay * random.uniform(0.8, 1.2)


def retry_delay_asked(job_type: JobType | None, delay: float, error: JobError) -> float:
    """The retry's `delay`, or longer when the error says when to come back (a provider's
    Retry-After): up to RETRY_AFTER_CAP_SECONDS or the type's longest delay, whichever is longer."""
    asked = getattr(error, "retry_after", None)
    if asked is None:
        return delay
    longest = max(job_type.retry_delays or (0,)) if job_type is not None else 0
    return max(delay, min(float(asked), max(RETRY_AFTER_CAP_SECONDS, longest)))


def job_submit(
    *,
    tenant: Tenant,
    type: str,
    payload: dict,
    priority: str | None = None,
    api_key=None,
    user=None,
    idempotency_key: str = "",
    limits: list[Limit] | None = None,
    retry_of: Job | None = None,
    delay_seconds: float | None = None,
    count_ahead: bool = False,
    payload_errors_under: str | None = "payload",
) -> Job:
    """Validate, check the rate limits, charge credits, insert the job and its ledger entry in one
    transaction, and publish its wake-up only after that commits. With `delay_seconds` the job is
    not due before then; with `count_ahead` the insert also counts the due jobs ahead of it (as
    `due_ahead`), for an answer that shows the job's queue position. An invalid payload's errors
    are reported under `payload_errors_under` (None: at the top level, as its fields were sent)."""
    job_type = job_type_get(type)
    if job_type is None or not job_type.enabled():
        raise InvalidRequest(errors={"type": [f"Unknown job type {type!r}."]})
    _workspace_active_check(tenant)
    try:
        payload = job_type.validate(payload, tenant=tenant)
    except ValidationError as exc:
        if payload_errors_under is None:
            raise InvalidRequest("The request has invalid fields.", errors=exc.detail) from exc
        raise InvalidRequest(
            "The payload is invalid.", errors={payload_errors_under: exc.detail}
        ) from exc
    decision = rate_limit_hit(limits) if limits else None
    if decision is not None and not decision.allowed:
        metric_inc(RATE_LIMIT_REJECTIONS, limit=decision.exhausted_limit)
        raise RateLimited(decision.refusal, headers=decision.headers())
    now = timezone.now()
    not_before = now + timedelta(seconds=delay_seconds) if delay_seconds else None
    credits = job_type.credit_cost
    try:
        # A lone INSERT commits by itself; the transaction (two more round trips) is opened only
        # when the job brings more writes: its credits or its type's own rows.
        with transaction.atomic() if credits or job_type.on_submit else nullcontext():
            job = Job(
                tenant=tenant,
                type=type,
                payload=payload,
                priority=priority or job_type.default_priority,
                max_attempts=job_type.max_attempts,
                credits_charged=credits,
                idempotency_key=idempotency_key,
                api_key=api_key,
                submitted_by=user,
                retry_of=retry_of,
                next_retry_at=not_before,
                dispatched_at=not_before or now,
            )
            _job_insert(job, count_ahead=count_ahead)
            credits_debit(tenant=tenant, amount=credits, reason=f"{type} job", job=job)
            if job_type.on_submit is not None:
                job_type.on_submit(job)
            transaction.on_commit(partial(job_dispatch, job, countdown=delay_seconds))
    except ApiError as refusal:
        # The limits have counted this submission (a 402 spends its slot as a 202 does), so its
        # refusal carries their headers like any other answer.
        if decision is not None:
            refusal.headers = {**decision.headers(), **refusal.headers}
        raise
    metric_inc(JOBS_SUBMITTED, type=type)
    job.rate_limit_decision = decision
    return job


def _job_insert(job: Job, *, count_ahead: bool) -> None:
    """Insert a new job, counting the due jobs ahead of it in the same statement when asked (on
    PostgreSQL: one round trip, not two, on the API's busiest write)."""
    sql, params = job_insert_sql(connection.alias), job_insert_values(job)
    count_ahead = count_ahead and connection.vendor == "postgresql"
    if count_ahead:
        ahead = due_ahead_sql("job.priority", "job.created_at")
        sql = f"WITH job AS ({sql} RETURNING priority, created_at) SELECT ({ahead}) FROM job"
        params += due_ahead_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if count_ahead:
            job.due_ahead = cursor.fetchone()[0]
    job._state.adding = False
    job._state.db = connection.alias


def job_dispatch(job: Job, *, countdown: float | None = None) -> bool:
    """Publish the job's wake-up to its priority's queue. When the broker is down the job stays
    pending with no dispatch time, and the sweeper publishes it later."""
    from jobs.tasks import job_execute

    try:
        # No time limits in the message: the worker that runs the attempt sets them (JobRequest).
        job_execute.apply_async(
            kwargs={"job_id": str(job.pk), "type_name": job.type},
            queue=job.priority,
            countdown=countdown,
            retry_policy=PUBLISH_RETRY_POLICY,
        )
    except Exception as exc:  # noqa: BLE001 - any broker failure leaves the job to the sweeper
        # One line: the broker's own words say what is wrong; a traceback would add nothing.
        logger.warning("Could not publish job %s (%r); the sweeper will.", job.pk, exc)
        Job.objects.filter(pk=job.pk, status=Job.Status.PENDING).update(dispatched_at=None)
        return False
    return True


CLAIM_LATER = "later"


def job_claim(job_id, type_name: str | None = None) -> Job | str | None:
    """Move a due pending job of an active workspace to processing with one conditional UPDATE.
    Returns the job, None when there was nothing to claim (a duplicate or late message, or a
    deactivated workspace's job, which job_execute then cancels), or CLAIM_LATER when the job's
    type or tenant is at its concurrency cap, or older jobs wait for the free slots (the job
    waits, spending no attempt)."""
    if type_name is None:
        type_name = Job.objects.filter(pk=job_id).values_list("type", flat=True).first()
    job_type = job_type_get(type_name) if type_name else None
    if job_type is None or not job_type.capped:
        return _claim_returning(job_id)
    with transaction.atomic():
        _lock_for_capacity(job_type.name)
        job = (
            Job.objects.due()
            .filter(pk=job_id, tenant__is_active=True)
            .only("type", "tenant", "priority", "created_at", "attempts")
            .first()
        )
        if job is None:
            return None
        full = _capacity_full(job_type, job)
        if not full:
            return _claim_returning(job_id)
        _capacity_wait(job, full)
        # A free slot this job may not take (older jobs first, or its workspace is at its own
        # cap) goes to the next in line now.
        _capacity_wake(job_type, job.tenant_id)
        return CLAIM_LATER


def _claim_returning(job_id) -> Job | None:
    """The claim itself: one UPDATE that only matches a due pending job of an active workspace,
    returning the row, and the attempt's "started" line in the job's history (on PostgreSQL in the
    same statement). Each attempt reports its own progress, from zero."""
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    pk = Job._meta.pk.get_db_prep_value(uuid.UUID(str(job_id)), connection)
    jobs, tenants = Job._meta.db_table, Tenant._meta.db_table
    claim = (
        f"UPDATE {jobs} SET status = %s, attempts = attempts + 1, started_at = %s,"
        " heartbeat_at = %s, updated_at = %s, next_retry_at = NULL, waiting_since = NULL,"
        " progress = 0, progress_message = ''"
        " WHERE id = %s AND status = %s"
        " AND (next_retry_at IS NULL OR next_retry_at <= %s)"
        # Its workspace's row by primary key, in the same statement: a deactivated workspace's
        # message still in the broker (or sent in a race with the deactivation) runs nothing.
        f" AND EXISTS (SELECT 1 FROM {tenants} WHERE {tenants}.id = {jobs}.tenant_id"
        f" AND {tenants}.is_active)"
        f" RETURNING {job_columns(connection.alias)}"
    )
    params = [Job.Status.PROCESSING, now, now, now, pk, Job.Status.PENDING, now]
    if connection.vendor != "postgresql":
        job = _fetch_job(claim, params)
        if job is not None:
            _event(job, job.attempts, JobEvent.Kind.STARTED, _where())
        return job
    # The claim commits without waiting for its WAL flush (synchronous_commit off for this
    # transaction only): a database crash can lose it, and then the job is simply pending again,
    # as after any lost attempt. The completion commits synchronously, and flushing its WAL
    # flushes the claim's too, so a durable result never rests on a lost claim.
    sql = (
        "WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true)),"
        f" claimed AS ({claim}), started AS (INSERT INTO {JobEvent._meta.db_table}"
        " (job_id, attempt, kind, message, created_at)"
        " SELECT id, attempts, %s, %s, %s FROM claimed)"
        f" SELECT {job_columns(connection.alias, 'claimed')} FROM claimed CROSS JOIN async_commit"
    )
    return _fetch_job(sql, [*params, JobEvent.Kind.STARTED, _where(), now])


def _fetch_job(sql: str, params: list) -> Job | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return job_from_row(row) if row is not None else None


def _where() -> str:
    """Where an attempt runs, as its "started" event says."""
    return f"On {HOSTNAME}, process {os.getpid()}."


def _lock_for_capacity(type_name: str) -> None:
    """Serialise claims of one capped type across every worker until the transaction ends.
    SQLite needs nothing: its write transactions are already serial."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"jobs.cap.{type_name}"])


def _capacity_full(job_type: JobType, job: Job) -> str:
    """Why the job cannot start now, in words for its history ('' when it can): a cap is reached,
    or the free slots go to jobs that waited for one before it."""
    running = _capacity_running(job_type)
    cap, tenant_cap = job_type.concurrency_cap, job_type.concurrency_cap_per_tenant
    in_workspace = running.get(job.tenant_id, 0)
    if cap is not None and sum(running.values()) >= cap:
        return f"{job_type.name} is at its cap of {cap} jobs running at once."
    if tenant_cap is not None and in_workspace >= tenant_cap:
        return f"The workspace is at its cap of {tenant_cap} {job_type.name} jobs running at once."
    if cap is not None:
        free = cap - sum(running.values())
        ahead = _next_in_line(job_type, running, free, ahead_of=job)
    else:
        free = tenant_cap - in_workspace
        ahead = _next_in_line(job_type, running, free, ahead_of=job, tenant_id=job.tenant_id)
    # The list stops at `free` jobs: shorter, it holds every waiting job that could start first.
    if len(ahead) >= free:
        return WAITING_BEHIND_OLDER
    if tenant_cap is not None:
        ahead_in_workspace = sum(1 for waiting in ahead if waiting.tenant_id == job.tenant_id)
        if ahead_in_workspace >= tenant_cap - in_workspace:
            return WAITING_BEHIND_OLDER
    return ""


def _capacity_running(job_type: JobType) -> dict:
    """The type's jobs running, by workspace, in one round trip."""
    return dict(
        Job.objects.filter(type=job_type.name, status=Job.Status.PROCESSING)
        .order_by()
        .values_list("tenant_id")
        .annotate(running=Count("pk"))
    )


def _next_in_line(
    job_type: JobType,
    running: dict,
    limit: int | None,
    *,
    ahead_of: Job | None = None,
    tenant_id=None,
) -> list[Job]:
    """The jobs waiting for a slot of the type that would take the next `limit` free ones (all of
    them with None), in turn: a more urgent queue first, then oldest first, and no more from one
    workspace than its own cap leaves room for. Only those ranked before `ahead_of` when given,
    only one workspace's with `tenant_id`."""
    if limit is not None and limit <= 0:
        return []
    waiters = Job.objects.waiting_for_slot().filter(type=job_type.name)
    if tenant_id is not None:
        waiters = waiters.filter(tenant_id=tenant_id)
    tenant_cap = job_type.concurrency_cap_per_tenant
    # What each workspace's own cap leaves room for (None: no such cap).
    room = None
    if tenant_cap is not None:
        room = defaultdict(lambda: tenant_cap)
        room.update({tenant: tenant_cap - count for tenant, count in running.items()})
    queues = Priority.values
    if ahead_of is not None:
        queues = queues[: queues.index(ahead_of.priority) + 1]
    chosen = []
    for queue in queues:
        line = waiters.filter(priority=queue)
        if ahead_of is not None and queue == ahead_of.priority:
            line = line.filter(_older_than(ahead_of))
        for waiting in _in_turn(line.only("type", "priority", "tenant", "created_at"), room):
            chosen.append(waiting)
            if limit is not None and len(chosen) >= limit:
                return chosen
    return chosen


def _older_than(job: Job) -> Q:
    return Q(created_at__lt=job.created_at) | Q(created_at=job.created_at, pk__lt=job.pk)


def _in_turn(line, room: dict | None):
    """A queue's waiting jobs oldest first, WAITERS_PAGE per query (each from where the last one
    ended, so that a caller that has found enough stops reading), counting each against its
    workspace's `room`: a workspace with none left is passed over, and left out of the queries."""
    last, full = None, set()
    if room is not None:
        full = {tenant for tenant, left in room.items() if left <= 0}
    while True:
        query = line.exclude(tenant_id__in=full) if full else line
        if last is not None:
            query = query.filter(
                Q(created_at__gt=last.created_at) | Q(created_at=last.created_at, pk__gt=last.pk)
            )
        page = list(query.order_by("created_at", "pk")[:WAITERS_PAGE])
        for waiting in page:
            last = waiting
            if room is not None:
                if room[waiting.tenant_id] <= 0:
                    continue
                room[waiting.tenant_id] -= 1
                if room[waiting.tenant_id] <= 0:
                    full.add(waiting.tenant_id)
            yield waiting
        if len(page) < WAITERS_PAGE:
            return


def _capacity_wait(job: Job, reason: str) -> None:
    """Park a job that cannot start yet: nothing of it goes round the broker while it waits. A
    slot that frees wakes the next in line (_capacity_wake), and the sweeper wakes them for any
    free slot should that wake-up be lost. Its history says why, once per wait."""
    parked = Job.objects.filter(pk=job.pk, status=Job.Status.PENDING).update(
        waiting_since=Coalesce("waiting_since", Value(timezone.now()))
    )
    # One canceled since the claim read it has nothing more to wait for.
    if parked:
        _event_waiting(job.pk, job.attempts + 1, reason)


def _capacity_wake(job_type: JobType, tenant_id=None) -> int:
    """Publish the waiting jobs next in line for the slots free now: after a job of the workspace
    `tenant_id` left one, or (None) for every free slot, as the sweeper asks. Serialised with the
    claims, so a job that parks at the same moment is seen; returns how many were woken."""
    cap, tenant_cap = job_type.concurrency_cap, job_type.concurrency_cap_per_tenant
    with transaction.atomic():
        _lock_for_capacity(job_type.name)
        running = _capacity_running(job_type)
        if cap is not None:
            woken = _next_in_line(job_type, running, cap - sum(running.values()))
        elif tenant_id is not None:
            free = tenant_cap - running.get(tenant_id, 0)
            woken = _next_in_line(job_type, running, free, tenant_id=tenant_id)
        else:
            woken = _next_in_line(job_type, running, None)
        if woken:
            Job.objects.filter(pk__in=[job.pk for job in woken]).update(
                dispatched_at=timezone.now()
            )
        for job in woken:
            transaction.on_commit(partial(job_dispatch, job))
    return len(woken)


def _event_waiting(job_id, attempt: int, message: str) -> None:
    """Write a "waiting" line in the job's history once per wait, in one statement: not again while
    its last line already tells this wait. "Started" lines do not count: a handler that hands its
    job back to wait (a provider's rate) is claimed, and says so, each time it looks again."""
    table = JobEvent._meta.db_table
    pk = Job._meta.pk.get_db_prep_value(uuid.UUID(str(job_id)), connection)
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    waiting, started = JobEvent.Kind.WAITING, JobEvent.Kind.STARTED
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (job_id, attempt, kind, message, created_at)"
            " SELECT %s, %s, %s, %s, %s WHERE NOT EXISTS (SELECT 1 FROM"
            f" (SELECT kind, message FROM {table} WHERE job_id = %s AND kind <> %s"
            " ORDER BY created_at DESC, id DESC LIMIT 1) AS latest"
            " WHERE latest.kind = %s AND latest.message = %s)",
            [pk, attempt, waiting, message, now, pk, started, waiting, message],
        )


# Stop signals are held back during the claim (STOP_SIGNALS): one landing after the claim commits
# but before this process knows it would leave the job processing, in no one's hands, until the
# stale reaper. The process's own threads never take them (core.threads).


def job_execute(*, job_id: str, type_name: str | None = None) -> Job | None:
    """Run one attempt of a job: the body of the Celery task. Returns the job it claimed, None
    when it claimed none."""
    if worker_state.should_stop is not None or worker_state.should_terminate is not None:
        # A pool process started while its worker stops (in place of one that handed its job
        # back) is killed with the worker: it starts nothing, and the job waits for another.
        logger.info("Job %s: not started, the worker is stopping.", job_id)
        if not broker_is_filesystem():
            # Elsewhere other workers take it; the filesystem broker's next worker sends it again.
            waiting = Job.objects.filter(pk=job_id, status=Job.Status.PENDING).first()
            if waiting is not None:
                job_dispatch(waiting)
        return None
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        claimed = job_claim(job_id, type_name)
    except BaseException:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        raise
    if not isinstance(claimed, Job):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        if claimed is None and not _job_cancel_if_workspace_inactive(job_id):
            logger.info("Job %s: nothing to claim (duplicate or late message).", job_id)
        return None
    token = bind_log_context(job_id=str(claimed.pk))
    try:
        # A stop signal that arrived during the claim is raised here, where the job is handed back.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        # Named as a request's lines name it (the reset of `token` below undoes this one too).
        bind_log_context(tenant=claimed.tenant.slug)
        logger.info(
            "Job %s attempt %s/%s started: %s for %s.",
            claimed.pk,
            claimed.attempts,
            claimed.max_attempts,
            claimed.type,
            claimed.tenant.slug,
        )
        due_since = claimed.dispatched_at or claimed.created_at
        metric_observe(
            JOB_QUEUE_WAIT,
            max((claimed.started_at - due_since).total_seconds(), 0),
            type=claimed.type,
        )
        _run_attempt(claimed)
        job_type = job_type_get(claimed.type)
        if job_type is not None and job_type.capped:
            _capacity_wake(job_type, claimed.tenant_id)
    except (SystemExit, KeyboardInterrupt):
        # The pool process itself was told to stop (a supervisor signalling the whole process
        # group): hand the job back now rather than leave it to the stale reaper. A SIGTERM to
        # the worker's main process alone is a warm shutdown, and the job in hand finishes.
        _job_release(
            claimed,
            claimed.attempts,
            delay=0,
            requeued="The worker stopped before the attempt finished; back in its queue.",
            # The filesystem broker's one worker, stopping, would take the message back and be
            # killed with it in hand: the next worker to start sends it again.
            publish=not broker_is_filesystem(),
        )
        job_type = job_type_get(claimed.type)
        if claimed.status != Job.Status.PENDING and job_type is not None and job_type.capped:
            # It ended canceled rather than go back to its queue: its slot is free.
            _capacity_wake(job_type, claimed.tenant_id)
        raise
    finally:
        unbind_log_context(token)
    return claimed


def _workspace_active_check(tenant: Tenant) -> None:
    """Refuse new work for a deactivated workspace (a command, an admin action: its API keys are
    refused already), which a worker would only cancel."""
    if not tenant.is_active:
        raise Conflict(
            f"The workspace {tenant.slug} is deactivated: its jobs do not run. Reactivate it first."
        )


def _job_cancel_if_workspace_inactive(job_id) -> bool:
    """Cancel a pending job the claim refused for its deactivated workspace (credits refunded), as
    deactivating it does, rather than leave it for the sweeper to send again. Read only once a
    claim found nothing: a claim that succeeds spends no query on it."""
    job = Job.objects.filter(pk=job_id, status=Job.Status.PENDING, tenant__is_active=False).first()
    if job is None:
        return False
    try:
        job_cancel(job=job, why=WORKSPACE_INACTIVE)
    except Conflict:
        # The deactivation itself canceled it meanwhile.
        return False
    return True


def _run_attempt(job: Job) -> None:
    job_type = job_type_get(job.type)
    ctx = JobContext(job)
    try:
        if job_type is None:
            raise PermanentError("UNKNOWN_TYPE", f"No handler is registered for {job.type!r}.")
        try:
            with heartbeat_while_running(job, ctx.attempt):
                result = job_type.handler(ctx)
        except Exception:
            _connection_release_if_busy()
            ctx.flush_if_owned()
            raise
        if not ctx.completed:
            ctx.complete(result)
        duration = (timezone.now() - job.started_at).total_seconds()
        metric_inc(JOBS_COMPLETED, type=job.type)
        metric_observe(JOB_DURATION, duration, type=job.type)
        logger.info(
            "Job %s attempt %s/%s completed in %.2fs.",
            job.pk,
            ctx.attempt,
            job.max_attempts,
            duration,
        )
    except JobCanceled:
        _job_end_canceled(job, ctx.attempt)
    except JobLost:
        _job_lost(job, ctx.attempt)
    except WaitForCapacity as wait:
        _job_release(
            job, ctx.attempt, delay=wait.delay, waiting=wait.reason or "A shared limit is full."
        )
    except SoftTimeLimitExceeded:
        limit = job_type.seconds_allowed if job_type else DEFAULT_TIME_LIMIT
        _job_attempt_failed(
            job, ctx.attempt, RetryableError("TIMEOUT", f"The attempt took longer than {limit}s.")
        )
    except JobError as error:
        _job_attempt_failed(job, ctx.attempt, error)
    except OSError:
        logger.exception("Job %s attempt %s failed on a storage error.", job.pk, ctx.attempt)
        _job_attempt_failed(
            job, ctx.attempt, RetryableError("STORAGE_ERROR", STORAGE_ERROR_MESSAGE)
        )
    except Exception:  # noqa: BLE001 - an unexpected error is one failed attempt
        logger.exception("Job %s attempt %s failed unexpectedly.", job.pk, ctx.attempt)
        _job_attempt_failed(
            job, ctx.attempt, RetryableError("INTERNAL_ERROR", INTERNAL_ERROR_MESSAGE)
        )


def _connection_release_if_busy() -> None:
    """A time limit or a stop signal raised during a query leaves the connection waiting for its
    result, refusing every other statement ("another command is already in progress"): cancel the
    query on the server (it may hold locks) and drop the connection, so that the attempt's outcome
    is written on a fresh one. Costs nothing when the connection is idle."""
    raw = connection.connection
    if raw is None or connection.in_atomic_block or connection.vendor != "postgresql":
        return
    if raw.info.transaction_status == pq.TransactionStatus.IDLE:
        return
    with suppress(Exception):
        raw.cancel_safe(timeout=5)
    connection.close()


def _event(job: Job, attempt: int, kind: str, message: str = "", *, actor: str = "") -> None:
    JobEvent.objects.create(
        job_id=job.pk, attempt=attempt, kind=kind, message=message[:5000], actor=actor
    )


def _job_lost(job: Job, attempt: int) -> None:
    """complete() or a progress write found the job gone from this worker: either a cancel was
    requested (finish it as canceled) or the reaper took it (write nothing)."""
    if job_attempt_row(job, attempt).filter(cancel_requested=True).exists():
        _job_end_canceled(job, attempt)
        return
    logger.warning(
        "Job %s attempt %s was taken from this worker; its result is dropped.", job.pk, attempt
    )


def _job_release(
    job: Job,
    attempt: int,
    *,
    delay: float,
    waiting: str = "",
    requeued: str = "",
    publish: bool = True,
) -> None:
    """Hand the job back without spending the attempt, to be tried after `delay` seconds; its
    history says why: `waiting` for which capacity, or `requeued` what stopped it. A job asked to
    stop ends canceled instead: handed back, it would run again. Without `publish` its wake-up is
    left to whoever sends it again (the next worker to start, the sweeper)."""
    _connection_release_if_busy()
    at = timezone.now() + timedelta(seconds=delay)
    with transaction.atomic():
        released = (
            job_attempt_row(job, attempt)
            .filter(cancel_requested=False)
            .update(
                status=Job.Status.PENDING,
                attempts=F("attempts") - 1,
                next_retry_at=at,
                dispatched_at=at,
                heartbeat_at=None,
            )
        )
        if released:
            job.status = Job.Status.PENDING
            if waiting:
                _event_waiting(job.pk, attempt, waiting)
            if requeued:
                _event(job, attempt, JobEvent.Kind.REQUEUED, requeued)
            if publish:
                transaction.on_commit(partial(job_dispatch, job, countdown=delay))
    if not released:
        _job_end_canceled(job, attempt, cancel_requested=True)


def _job_attempt_failed(job: Job, attempt: int, error: JobError) -> None:
    _connection_release_if_busy()
    job.refresh_from_db(fields=["cancel_requested", "max_attempts"])
    if job.cancel_requested:
        _job_end_canceled(job, attempt)
        return
    if not error.retryable or attempt >= job.max_attempts:
        if _job_give_up(job, attempt, Job.Status.FAILED, error.code, error.message):
            why = "no attempts left" if error.retryable else "the error is permanent"
            logger.error(
                "Job %s attempt %s/%s failed (%s: %s); %s, the job is dead-lettered.",
                job.pk,
                attempt,
                job.max_attempts,
                error.code,
                Truncator(error.message).chars(LOGGED_MESSAGE_MAX),
                why,
            )
        return
    job_type = job_type_get(job.type)
    delay = retry_delay_asked(job_type, retry_delay(job_type, attempt), error)
    at = timezone.now() + timedelta(seconds=delay)
    with transaction.atomic():
        # Not once a cancel has been asked since it was read: rescheduled, the job would run again.
        scheduled = (
            job_attempt_row(job, attempt)
            .filter(cancel_requested=False)
            .update(
                status=Job.Status.PENDING,
                next_retry_at=at,
                dispatched_at=at,
                heartbeat_at=None,
                error_code=error.code,
                error_message=error.message[:5000],
            )
        )
        if scheduled:
            metric_inc(JOBS_RETRIED, type=job.type)
            _event(
                job,
                attempt,
                JobEvent.Kind.RETRY,
                f"{error.code}: {error.message} — retry in {delay:.1f}s",
            )
            transaction.on_commit(partial(job_dispatch, job, countdown=delay))
    if not scheduled:
        _job_end_canceled(job, attempt, cancel_requested=True)
        return
    logger.warning(
        "Job %s attempt %s/%s failed (%s: %s); retry at %s.",
        job.pk,
        attempt,
        job.max_attempts,
        error.code,
        Truncator(error.message).chars(LOGGED_MESSAGE_MAX),
        at.isoformat(timespec="seconds"),
    )


def _job_give_up(job: Job, attempt: int, status: str, code: str, message: str, **only_if) -> bool:
    """End a processing job as failed or canceled: refund its credits and let its type clean up.
    `only_if` adds conditions to the UPDATE (the reaper's: the heartbeat is still stale)."""
    with transaction.atomic():
        ended = (
            job_attempt_row(job, attempt)
            .filter(**only_if)
            .update(
                status=status,
                finished_at=timezone.now(),
                error_code=code,
                error_message=message[:5000],
            )
        )
        if ended:
            _job_ended(job, attempt, status, code, message)
    return bool(ended)


def _job_end_canceled(job: Job, attempt: int, **only_if) -> bool:
    """End a processing job asked to stop as canceled, rather than let it run again."""
    ended = _job_give_up(job, attempt, Job.Status.CANCELED, "CANCELED", CANCELED_MESSAGE, **only_if)
    if ended:
        logger.info("Job %s attempt %s/%s canceled on request.", job.pk, attempt, job.max_attempts)
    return ended


def _job_ended(
    job: Job, attempt: int, status: str, code: str, message: str, *, actor: str = ""
) -> None:
    job.refresh_from_db()
    kind = JobEvent.Kind.CANCELED if status == Job.Status.CANCELED else JobEvent.Kind.FAILED
    if status == Job.Status.FAILED:
        metric_inc(JOBS_FAILED, type=job.type)
    _event(job, attempt, kind, f"{code}: {message}", actor=actor)
    credits_refund(tenant=job.tenant, job=job, reason=f"{job.type} job {status}")
    job_type = job_type_get(job.type)
    if job_type is not None and job_type.on_give_up is not None:
        job_type.on_give_up(job)


def _asked_by(actor, job: Job) -> tuple[str, str]:
    """Who asked for a cancel or a requeue: as the job's history tells its workspace, and as the
    admin tells staff (JobEvent.actor). The workspace reads its own API keys and members by name
    and anyone of the platform (staff in the admin, manage.py at a shell) as "an operator"."""
    if actor is None:
        return "an operator", ""
    label = f"API key {actor}" if isinstance(actor, ApiKey) else str(actor)
    if isinstance(actor, ApiKey):
        own = actor.tenant_id == job.tenant_id
    else:
        own = (
            isinstance(actor, get_user_model())
            and actor.memberships.filter(tenant_id=job.tenant_id).exists()
        )
    return (label if own else "an operator"), label


def job_cancel(*, job: Job, actor=None, why: str = "") -> Job:
    """Cancel a pending job at once; ask a processing one to stop at its next check. `why`, when
    the cancel is no one's request for this job ("as its workspace was deactivated"), is said in
    its history."""
    with transaction.atomic():
        # The row is locked while deciding: a worker claiming it or the reaper requeuing it waits,
        # so the job cannot change status between what was read and what is written.
        locked = Job.objects.select_for_update().filter(pk=job.pk)
        status, attempt = locked.values_list("status", "attempts").first() or (None, 0)
        if status == Job.Status.PENDING:
            Job.objects.filter(pk=job.pk).update(
                status=Job.Status.CANCELED,
                finished_at=timezone.now(),
                next_retry_at=None,
                waiting_since=None,
                cancel_requested=True,
                error_code="CANCELED",
                error_message=CANCELED_MESSAGE,
            )
            told, label = _asked_by(actor, job)
            by = f"Canceled by {told}" if actor else "Canceled"
            by = f"{by} {why}." if why else (f"{by}." if actor else CANCELED_MESSAGE)
            _job_ended(job, job.attempts, Job.Status.CANCELED, "CANCELED", by, actor=label)
            logger.info("Job %s canceled while pending: %s", job.pk, by)
            # It may have been woken for a free slot, which then goes to the next in line.
            job_type = job_type_get(job.type)
            if job_type is not None and job_type.capped:
                transaction.on_commit(partial(_capacity_wake, job_type, job.tenant_id))
        elif status == Job.Status.PROCESSING:
            if Job.objects.filter(pk=job.pk, cancel_requested=False).update(cancel_requested=True):
                # Who asked, and when: the attempt ends canceled later, at its handler's next check.
                told, label = _asked_by(actor, job)
                asked = f"Cancel asked by {told}" if actor else "Cancel asked"
                asked = f"{asked} {why}" if why else asked
                _event(
                    job,
                    attempt,
                    JobEvent.Kind.CANCEL_REQUESTED,
                    f"{asked}; the attempt stops at its next check.",
                    actor=label,
                )
                logger.info("Job %s: %s; the attempt stops at its next check.", job.pk, asked)
        else:
            raise Conflict(f"The job is {status}; only pending or processing jobs can be canceled.")
    job.refresh_from_db()
    return job


def tenant_jobs_stop(*, tenant: Tenant, actor=None, limit: int | None = None) -> str:
    """Stop a deactivated workspace's work, each job as job_cancel does: its processing jobs are
    asked to stop, then its pending ones (those waiting for a retry too) canceled with their
    credits refunded, at most `limit` jobs in all. Says what was done, and how many pending jobs
    the limit left, the same wherever the workspace is deactivated ('' when it had none)."""
    canceled = stopping = 0
    unfinished = tenant.jobs.filter(status__in=[Job.Status.PENDING, Job.Status.PROCESSING])
    # "processing" sorts after "pending": the jobs holding workers now are stopped first.
    picked = unfinished.order_by("-status", "created_at").select_related("tenant")
    for job in picked[:limit].iterator():
        try:
            job = job_cancel(job=job, actor=actor, why=WORKSPACE_DEACTIVATED)
        except Conflict:
            continue  # It finished since it was read.
        if job.is_finished:
            canceled += 1
        else:
            stopping += 1
    said = []
    if stopping:
        said.append(
            f"Asked {stopping} running job{pluralize(stopping)} to stop: "
            f"{'it ends' if stopping == 1 else 'each ends'} canceled at its next check."
        )
    if canceled:
        said.append(f"Canceled {canceled} pending job{pluralize(canceled)} (credits refunded).")
    if limit is not None and (left := tenant.jobs.filter(status=Job.Status.PENDING).count()):
        said.append(
            f"{left} more pending job{pluralize(left)} {pluralize(left, 'is,are')} left: each is "
            f"canceled when a worker reaches it, or all at once by `manage.py deactivate_tenant "
            f"{tenant.slug}`."
        )
    return " ".join(said)


def job_retry(
    *,
    job: Job,
    api_key=None,
    user=None,
    limits: list[Limit] | None = None,
    idempotency_key: str = "",
    priority: str | None = None,
) -> Job:
    """Submit a failed or canceled job again, as a new job that points back at it, at its
    priority unless another is given."""
    if job.status not in (Job.Status.FAILED, Job.Status.CANCELED):
        raise Conflict(f"The job is {job.status}; only failed or canceled jobs can be retried.")
    return job_submit(
        tenant=job.tenant,
        type=job.type,
        payload=job.payload,
        priority=priority or job.priority,
        api_key=api_key,
        user=user,
        limits=limits,
        idempotency_key=idempotency_key,
        retry_of=job,
    )


def job_requeue(*, job: Job, actor=None) -> Job:
    """Put a dead-letter (failed) or canceled job back in its queue with fresh attempts. Its credits,
    refunded when it ended, are charged again."""
    _workspace_active_check(job.tenant)
    with transaction.atomic():
        requeued = Job.objects.filter(
            pk=job.pk, status__in=[Job.Status.FAILED, Job.Status.CANCELED]
        ).update(
            status=Job.Status.PENDING,
            attempts=0,
            progress=0,
            progress_message="",
            cancel_requested=False,
            started_at=None,
            heartbeat_at=None,
            finished_at=None,
            error_code="",
            error_message="",
            result=None,
            waiting_since=None,
            # Due from now: how long it waits in its queue counts from its requeue.
            next_retry_at=timezone.now(),
            dispatched_at=timezone.now(),
        )
        if not requeued:
            job.refresh_from_db()
            raise Conflict(
                f"The job is {job.status}; only failed or canceled jobs can be requeued."
            )
        job.refresh_from_db()
        credits_debit(
            tenant=job.tenant,
            amount=job.credits_charged,
            reason=f"{job.type} job requeued",
            job=job,
        )
        told, label = _asked_by(actor, job)
        _event(job, 0, JobEvent.Kind.REQUEUED, f"Requeued by {told}.", actor=label)
        job_type = job_type_get(job.type)
        if job_type is not None and job_type.on_requeue is not None:
            job_type.on_requeue(job)
        transaction.on_commit(partial(job_dispatch, job))
    return job


def jobs_reap_stale(*, every_round: Callable[[int, int], object] | None = None) -> dict:
    """Processing jobs whose heartbeat stopped (their worker died) go back to pending, fail with
    WORKER_LOST when no attempt is left, or end canceled when a cancel was asked for. At most
    REAP_BATCH of them, so that a scheduled run stays short; "left" counts those still stale.
    Given `every_round`, round after round until none is left (or a round changes none), each
    but the last followed by every_round(handled, left)."""
    now = timezone.now()
    cutoff = stale_before(now)
    stale = Job.objects.stale(now)
    counts = {"requeued": 0, "failed": 0, "canceled": 0}
    reaped = []
    while True:
        taken = _stale_round_reap(stale, cutoff, counts)
        reaped += taken
        left = stale.count()
        # A round that changed none of them would change none the next time: stop there.
        if every_round is None or not left or not taken:
            break
        every_round(len(reaped), left)
    if reaped:
        _reaped_log(reaped, counts)
    return {**counts, "left": left}


def _stale_round_reap(stale, cutoff, counts: dict) -> list:
    """Reap the REAP_BATCH stalest jobs, adding each outcome to `counts`; the ids of those
    reaped."""
    reaped = []
    freed = set()
    for job in stale.select_related("tenant").order_by("heartbeat_at")[:REAP_BATCH]:
        with _job_logged(job):
            outcome = _job_reap(job, cutoff)
        if outcome:
            counts[outcome] += 1
            reaped.append(job.pk)
            freed.add((job.type, job.tenant_id))
    for type_name, tenant_id in freed:
        job_type = job_type_get(type_name)
        if job_type is not None and job_type.capped:
            _capacity_wake(job_type, tenant_id)
    return reaped


def _reaped_log(reaped: list, counts: dict) -> None:
    """One warning a run, however many jobs a lost fleet of workers left: a few hundred lines at
    once would bury everything else the log says then."""
    more = len(reaped) - REAP_LOGGED_IDS
    logger.warning(
        "The stale reaper took %s job%s from workers that stopped responding (requeued %s, failed"
        " %s as WORKER_LOST, canceled %s as asked): %s%s.",
        len(reaped),
        pluralize(len(reaped)),
        counts["requeued"],
        counts["failed"],
        counts["canceled"],
        ", ".join(str(pk) for pk in reaped[:REAP_LOGGED_IDS]),
        f" and {more} more" if more > 0 else "",
    )


@contextmanager
def _job_logged(job: Job):
    """Every line logged meanwhile names the job and its workspace, as a request's lines do."""
    token = bind_log_context(job_id=str(job.pk), tenant=job.tenant.slug)
    try:
        yield
    finally:
        unbind_log_context(token)


# How the reaper's line about a job ends, by what it did with it.
REAP_OUTCOMES = {
    "requeued": "requeued",
    "failed": "failed as WORKER_LOST, no attempts left",
    "canceled": "canceled, as asked",
}


def _job_reap(job: Job, cutoff) -> str:
    outcome = _job_reap_outcome(job, cutoff)
    if outcome:
        logger.info(
            "Job %s attempt %s/%s: the worker stopped responding; %s.",
            job.pk,
            job.attempts,
            job.max_attempts,
            REAP_OUTCOMES[outcome],
        )
    return outcome


def _job_reap_outcome(job: Job, cutoff) -> str:
    """Take one stale job from its lost worker: "requeued", "failed" or "canceled", or "" when the
    worker heartbeated since the reaper's SELECT. Each UPDATE checks the heartbeat again, so a live
    worker keeps its job, and the cancel flag, so a cancel asked meanwhile is not lost."""
    attempt = job.attempts
    if not job.cancel_requested:
        if attempt < job.max_attempts:
            if _job_requeue_stale(job, attempt, cutoff):
                return "requeued"
        elif _job_give_up(
            job,
            attempt,
            Job.Status.FAILED,
            "WORKER_LOST",
            "The worker stopped responding.",
            heartbeat_at__lt=cutoff,
            cancel_requested=False,
        ):
            return "failed"
    # Asked to stop (perhaps since the SELECT): handed back, the job would run again. Not through
    # _job_end_canceled, whose line tells a cancel landing on a running attempt: _job_reap's
    # line tells this one.
    if _job_give_up(
        job,
        attempt,
        Job.Status.CANCELED,
        "CANCELED",
        CANCELED_MESSAGE,
        heartbeat_at__lt=cutoff,
        cancel_requested=True,
    ):
        return "canceled"
    return ""


def _job_requeue_stale(job: Job, attempt: int, cutoff) -> bool:
    with transaction.atomic():
        requeued = (
            job_attempt_row(job, attempt)
            .filter(heartbeat_at__lt=cutoff, cancel_requested=False)
            .update(
                status=Job.Status.PENDING,
                heartbeat_at=None,
                # Due from now: how long it waits again counts from its return to the queue.
                next_retry_at=timezone.now(),
                dispatched_at=timezone.now(),
            )
        )
        if requeued:
            _event(job, attempt, JobEvent.Kind.REAPED, "The worker stopped responding; requeued.")
            transaction.on_commit(partial(job_dispatch, job))
    return bool(requeued)


def jobs_sweep() -> dict:
    """Publish due pending jobs whose wake-up was never sent (broker down at submit) or has not led
    to a claim for a long time (a message lost in a crash). A queue with messages still waiting at
    the broker is behind, not lost: its old jobs are not published again, which would only lengthen
    it (they are when it has drained)."""
    now = timezone.now()
    lost_before = now - timedelta(seconds=settings.JOBS_STALE_AFTER_SECONDS)
    drained = [queue for queue, waiting in queue_backlogs(Priority.values).items() if not waiting]
    # Jobs waiting for a slot have no wake-up to lose: they are woken below, for the free slots,
    # or at once when their type has no cap any more.
    capped = [job_type.name for job_type in job_types() if job_type.capped]
    lost = Q(dispatched_at__isnull=True) | Q(dispatched_at__lt=lost_before, priority__in=drained)
    due = Job.objects.due(now).filter(
        (lost & Q(waiting_since__isnull=True))
        | (Q(waiting_since__isnull=False) & ~Q(type__in=capped))
    )
    published = _published_again(due.order_by("created_at")[:SWEEP_BATCH], now)
    waiting = set(
        Job.objects.waiting_for_slot(now).order_by().values_list("type", flat=True).distinct()
    )
    woken = sum(
        _capacity_wake(job_type)
        for job_type in job_types()
        if job_type.capped and job_type.name in waiting
    )
    return {"published": published, "woken": woken}


def jobs_resend(*, sent_before, still_queued: set[str]) -> int:
    """Publish again every due pending job sent before `sent_before` whose wake-up is not among
    `still_queued` (job ids): what a killed worker held, on a broker that deletes a message as a
    worker takes it (the filesystem broker). Jobs waiting for a slot have no wake-up to lose."""
    now = timezone.now()
    sent = Job.objects.due(now).filter(dispatched_at__lt=sent_before, waiting_since__isnull=True)
    lost = [job for job in sent.order_by("created_at") if str(job.pk) not in still_queued]
    return _published_again(lost, now)


def _published_again(jobs, now) -> int:
    """Publish each job again, unless it changed since it was read (claimed, canceled, or sent by
    another sweep); stop at the first publish that fails (the broker is down)."""
    published = 0
    for job in jobs:
        if not Job.objects.filter(
            pk=job.pk, status=Job.Status.PENDING, dispatched_at=job.dispatched_at
        ).update(dispatched_at=now, waiting_since=None):
            continue
        if not job_dispatch(job):
            break
        published += 1
    return published


def jobs_expired() -> QuerySet:
    """Finished jobs past their retention."""
    now = timezone.now()
    completed_before = now - timedelta(hours=settings.JOBS_RETENTION_COMPLETED_HOURS)
    ended_before = now - timedelta(days=settings.JOBS_RETENTION_FAILED_DAYS)
    return Job.objects.filter(
        Q(status=Job.Status.COMPLETED, finished_at__lt=completed_before)
        | Q(status__in=[Job.Status.FAILED, Job.Status.CANCELED], finished_at__lt=ended_before)
    )


def jobs_purge(*, progress: Callable[[int], object] | None = None) -> dict:
    """Delete finished jobs past their retention; the artifacts they produced stay. `progress`
    hears the running count after each batch."""
    return {"deleted": delete_in_batches(jobs_expired(), progress=progress)}
