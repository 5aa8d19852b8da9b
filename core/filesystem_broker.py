"""kombu's filesystem transport (the embedded default's broker), whose wait for messages ends as
soon as its worker is told to stop.

Celery runs a worker on a broker without events (this one) in a loop that waits up to 2 s for a
message and, once a stop signal is in, waits once more before it stops: an idle worker took up to
4 s to begin its shutdown. Meanwhile the pool processes that the signal stopped too (honcho and
Ctrl-C signal the whole process group) were found dead and replaced, each logged as an error, and
the worker outlived honcho's 5 s before it kills.
"""

import threading
from queue import Empty
from time import monotonic

from celery.signals import worker_shutting_down
from celery.worker import state as worker_state
from kombu.transport import filesystem

_told_to_stop = threading.Event()


@worker_shutting_down.connect
def _stop_waiting(**kwargs):
    _told_to_stop.set()


def _stopping() -> bool:
    return (
        _told_to_stop.is_set()
        or worker_state.should_stop is not None
        or worker_state.should_terminate is not None
    )


class BrokerTransport(filesystem.Transport):
    def drain_events(self, connection, timeout=None):
        """Deliver one message, waiting at most `timeout` seconds, as kombu does, but give up
        (as if the time were out) once the worker is told to stop."""
        deadline = None if timeout is None else monotonic() + timeout
        while not _stopping():
            try:
                self.cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                pass
            left = None if deadline is None else deadline - monotonic()
            if left is not None and left <= 0:
                break
            _told_to_stop.wait(
                self.polling_interval if left is None else min(self.polling_interval, left)
            )
        raise TimeoutError
