"""The heartbeat of the attempt in hand, written from a thread of the worker process itself.

The reaper takes a processing job whose heartbeat is older than JOBS_STALE_AFTER_SECONDS for one
whose worker died, and runs it again. A handler blocked in one long call (a model, a render) writes
nothing meanwhile, so without this thread a slow but live attempt could be run a second time. The
thread beats for as long as its process lives; a process stuck for good is killed by the attempt's
hard time limit, and its heartbeat stops with it.
"""

import contextlib
import logging
import os
import threading
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.threads import daemon_thread_start
from jobs.rows import job_attempt_row

logger = logging.getLogger(__name__)

# The attempts in hand, as (job, attempt number) by the thread running each (one in a prefork pool
# process; several with the threads pool).
_in_hand: dict[int, tuple] = {}
_thread_pid: dict = {"pid": None}


@contextlib.contextmanager
def heartbeat_while_running(job, attempt: int):
    """Keep the attempt's heartbeat fresh while the block runs."""
    _thread_ensure()
    _in_hand[threading.get_ident()] = (job, attempt)
    try:
        yield
    finally:
        _in_hand.pop(threading.get_ident(), None)


def _thread_ensure() -> None:
    """Start this process's beating thread (again after a fork: threads do not survive one)."""
    if _thread_pid["pid"] == os.getpid():
        return
    _thread_pid["pid"] = os.getpid()
    daemon_thread_start(_beat_forever, name="offload-heartbeat")


def _beat_forever() -> None:
    while True:
        # Three beats in the stale window: one late or lost beat never makes a live job stale.
        time.sleep(settings.JOBS_STALE_AFTER_SECONDS / 3)
        for job, attempt in list(_in_hand.values()):
            try:
                # Asked to cancel or not: an attempt that has not stopped yet is alive, and holds
                # its slot until it stops, rather than be taken for one whose worker died.
                job_attempt_row(job, attempt).update(heartbeat_at=timezone.now())
            except Exception:  # noqa: BLE001 - a missed beat is retried; the attempt must go on
                logger.warning("Could not write job %s's heartbeat.", job.pk, exc_info=True)
        # This thread's own connection: none is kept open between beats.
        connection.close()
