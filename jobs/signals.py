"""Workers and beat write their own sign of life, so the dashboard and /readyz can tell who is
running (and two beats at once); beat runs the health check itself when no worker has (every worker
down)."""

import atexit
import logging
import os
import socket
import threading
import time
from datetime import timedelta

from celery.signals import beat_init, worker_ready, worker_shutdown, worker_shutting_down
from django.db import DatabaseError, close_old_connections, connection
from django.utils import timezone

logger = logging.getLogger(__name__)
WORKER_HEARTBEAT_SECONDS = 15
# Beat's own sleep between ticks is 5 s at most (django-celery-beat's max interval).
BEAT_TICK_SECONDS = 5
# Seconds a stopping worker waits for its heartbeat thread to record the stop.
WORKER_STOP_RECORD_SECONDS = 10
_stop = threading.Event()
_heartbeat: dict = {"thread": None}


def worker_seen_write(*, hostname: str, queues: str, concurrency: int, started_at) -> None:
    from jobs.models import WorkerSeen

    WorkerSeen.objects.update_or_create(
        hostname=hostname,
        defaults={
            "pid": os.getpid(),
            "queues": queues,
            "concurrency": concurrency,
            "started_at": started_at,
            "last_seen_at": timezone.now(),
            "stopped_at": None,
        },
    )


def _worker_stopped_write(hostname: str) -> None:
    from jobs.models import WorkerSeen

    now = timezone.now()
    # This process's row only: a worker of the same name started since keeps its own.
    WorkerSeen.objects.filter(hostname=hostname, pid=os.getpid()).update(
        last_seen_at=now, stopped_at=now
    )


def _beat(hostname: str, queues: str, concurrency: int, started_at) -> None:
    while not _stop.is_set():
        close_old_connections()
        try:
            worker_seen_write(
                hostname=hostname, queues=queues, concurrency=concurrency, started_at=started_at
            )
        except Exception:  # noqa: BLE001 - a missed heartbeat must never stop the worker
            logger.warning("Could not record the worker heartbeat.", exc_info=True)
        _stop.wait(WORKER_HEARTBEAT_SECONDS)
    # Told to stop, the worker takes no more jobs: it no longer counts among those serving its
    # queues, at once rather than when its heartbeat is 2 minutes old.
    close_old_connections()
    try:
        _worker_stopped_write(hostname)
    except Exception:  # noqa: BLE001 - the row ages out like a killed worker's
        logger.warning("Could not record the worker's stop.", exc_info=True)
    connection.close()


@worker_ready.connect
def _start_heartbeat(sender, **kwargs):
    consumer = sender
    # In the worker's -Q order, which is the order it serves them in.
    queues = ",".join(q.name for q in consumer.task_consumer.queues)
    concurrency = consumer.pool.num_processes if hasattr(consumer.pool, "num_processes") else 1
    _stop.clear()
    _heartbeat["thread"] = threading.Thread(
        target=_beat,
        args=(consumer.hostname, queues, concurrency, timezone.now()),
        daemon=True,
        name="offload-heartbeat",
    )
    _heartbeat["thread"].start()


@worker_ready.connect
def _resend_what_a_stopped_worker_held(sender, **kwargs):
    """The filesystem broker (the embedded default) deletes a message as a worker takes it: the
    messages a worker held when it was killed (prefetched, or a job it handed back) died with it.
    When a worker starts, the due pending jobs sent before whose message is not on disk are sent
    again, rather than JOBS_STALE_AFTER_SECONDS later by the sweeper."""

    from jobs.broker import broker_is_filesystem, filesystem_queued_job_ids
    from jobs.services import jobs_resend

    if not broker_is_filesystem():
        return
    try:
        sent_before = timezone.now()
        resent = jobs_resend(sent_before=sent_before, still_queued=filesystem_queued_job_ids())
    except Exception:  # noqa: BLE001 - the sweeper sends them later; the worker must start
        logger.warning("Could not send again the jobs a stopped worker held.", exc_info=True)
    else:
        if resent:
            logger.info("Sent %s pending jobs again: a stopped worker held them.", resent)


@worker_shutting_down.connect
def _stopping(**kwargs):
    """A stop signal (SIGTERM, Ctrl-C): the worker takes no more jobs from now on, while those in
    hand finish. Sent from the signal handler: the heartbeat thread records the stop."""
    _stop.set()


@worker_shutdown.connect
def _stop_heartbeat(**kwargs):
    _stop.set()
    thread = _heartbeat["thread"]
    if thread is not None:
        thread.join(WORKER_STOP_RECORD_SECONDS)


def _health_check_fallback(late_after: float) -> None:
    from jobs.monitoring import ops_health_check_if_late

    # The workers have that long from beat's start to run it first (a fresh install has no run).
    time.sleep(late_after)
    while True:
        close_old_connections()
        try:
            if ops_health_check_if_late() is not None:
                logger.warning("No worker ran the health check in time: beat ran it.")
        except Exception:  # noqa: BLE001 - beat must go on sending the schedules
            logger.exception("Beat could not run the late health check.")
        time.sleep(min(60, late_after))


def beat_seen_start(hostname: str) -> None:
    """This beat's row, started now: a beat started again on the same host with the same process
    id (PID 1 of a container restarted) takes over the row of the one before, stop and all."""
    from jobs.models import BeatSeen

    now = timezone.now()
    BeatSeen.objects.update_or_create(
        hostname=hostname,
        pid=os.getpid(),
        defaults={"started_at": now, "last_seen_at": now, "stopped_at": None},
    )


def _beat_ticks(hostname: str) -> None:
    from jobs.models import BeatSeen

    seen = BeatSeen.objects.filter(hostname=hostname, pid=os.getpid())
    started = False
    while True:
        close_old_connections()
        try:
            # Written again should its row be gone.
            if not started or not seen.update(last_seen_at=timezone.now()):
                beat_seen_start(hostname)
                started = True
        except Exception:  # noqa: BLE001 - beat must go on sending the schedules
            logger.warning("Could not record beat's tick.", exc_info=True)
        time.sleep(BEAT_TICK_SECONDS)


def _beat_stopped_write(hostname: str) -> None:
    from jobs.models import BeatSeen

    close_old_connections()
    try:
        BeatSeen.objects.filter(hostname=hostname, pid=os.getpid()).update(
            stopped_at=timezone.now()
        )
    except Exception:  # noqa: BLE001 - the row ages out like a killed beat's
        logger.warning("Could not record beat's stop.", exc_info=True)


@beat_init.connect
def _start_beat_ticks(sender, **kwargs):
    """Each beat records its host and process id with its tick, and its stop (a beat killed ages
    out instead): two beats ticking at once are told apart from one beat restarted."""
    from jobs.models import BeatSeen

    hostname = socket.gethostname()
    # The rows of beats gone for a day: the dashboard and the health check look back a minute.
    try:
        BeatSeen.objects.filter(last_seen_at__lt=timezone.now() - timedelta(days=1)).delete()
    except DatabaseError:
        logger.warning("Could not delete the rows of beats gone for a day.", exc_info=True)
    atexit.register(_beat_stopped_write, hostname)
    threading.Thread(
        target=_beat_ticks, args=(hostname,), daemon=True, name="offload-beat-ticks"
    ).start()


@beat_init.connect
def _sync_schedules(sender, **kwargs):
    """Beat starts from the schedules the settings declare now, before it reads them: a changed
    JOBS_SWEEP_INTERVAL_SECONDS or TIME_ZONE takes effect when beat restarts, as any setting does,
    without waiting for the next migrate or sync_schedules."""
    from core.scheduling import schedules_sync

    try:
        schedules_sync()
    except DatabaseError:
        logger.exception("Beat could not sync the schedules; it runs them as they are stored.")


@beat_init.connect
def _start_health_check_fallback(sender, **kwargs):
    from django.conf import settings

    threading.Thread(
        target=_health_check_fallback,
        args=(settings.OPS_HEALTH_CHECK_FALLBACK_SECONDS,),
        daemon=True,
        name="offload-ops-fallback",
    ).start()
