"""Background threads of a process that must not take its stop signals."""

import signal
import threading

# What a supervisor sends to stop a process (systemd, compose, honcho, Ctrl-C).
STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def daemon_thread_start(target, *, name: str, args: tuple = ()) -> None:
    """Start a daemon thread that never takes SIGTERM or SIGINT. The kernel hands a signal sent
    to the process to any thread that does not block it, and Python then runs the handler in the
    main thread at once, even while the main thread holds the signal back (as a job's claim does):
    a thread started with the signals blocked keeps them blocked for its life."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    try:
        threading.Thread(target=target, args=args, daemon=True, name=name).start()
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
