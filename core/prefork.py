"""Celery's prefork pool as a worker on kombu's filesystem broker (the embedded default) runs it,
so that an idle worker told to stop (Ctrl-C, honcho) exits in about 2 s rather than hanging.

A worker on a broker without an event loop (this one) runs billiard's plain pool, whose
processes take turns on one shared queue: the one whose turn it is holds the queue's read lock
while it waits for a message, the others wait for the lock. A stop signal to the whole process
group reaches them all: the first lets go of the lock as it stops, and a second one, stopping
too, can take the lock at that very moment and exit without letting go (its signal handler
raises in billiard's lock wrapper, after the lock is taken but before the `with` that would let
it go). Once the pool processes have exited, the pool's shutdown takes the same lock to empty
the queue, and waited for it for ever: with two processes, about one stop in two hung until
honcho killed the worker after 5 s.

On Redis or RabbitMQ the worker runs an event loop and Celery's own pool, whose processes each
have a queue of their own and no shared lock: this one is not used there.
"""

import threading
import time

from billiard import pool
from celery.concurrency import prefork

LOCK_WAIT_SECONDS = 0.1
TIME_LIMITS_CHECK_SECONDS = 1.0


class TimeoutHandler(pool.TimeoutHandler):
    """Billiard's thread that enforces the tasks' time limits, which ends as soon as the pool
    stops rather than after the rest of the second it sleeps between two checks: the pool's
    shutdown waits for it."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._terminated = threading.Event()

    def terminate(self):
        super().terminate()
        self._terminated.set()

    def body(self):
        for _ in self.handle_timeouts():
            if self._terminated.wait(TIME_LIMITS_CHECK_SECONDS):
                return


class BlockingPool(pool.Pool):
    TimeoutHandler = TimeoutHandler

    @staticmethod
    def _help_stuff_finish(inqueue, task_handler, processes):
        # The lock is waited for only while a pool process lives to let go of it: once none
        # does, no one else reads the queue, and the lock may be held by one that exited.
        while any(process._is_alive() for process in processes):
            if inqueue._rlock.acquire(timeout=LOCK_WAIT_SECONDS):
                break
        # As billiard does it: the task handler may be waiting to put messages on the queue.
        while task_handler.is_alive() and inqueue._reader.poll():
            inqueue._reader.recv()
            time.sleep(0)


class TaskPool(prefork.TaskPool):
    BlockingPool = BlockingPool
