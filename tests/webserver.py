"""A real gunicorn server on the test database, for tests of what only separate processes show."""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.worker import READY_TIMEOUT, ROOT, worker_env


@contextlib.contextmanager
def running_web(
    *,
    processes: int = 2,
    extra_args: tuple[str, ...] = (),
    extra_env: dict | None = None,
    output: Path | None = None,
):
    """Yields the server's base URL once it answers /healthz; stops it afterwards. With `output`,
    what the server prints (stdout and stderr) is written to that file."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    gunicorn = Path(sys.executable).parent / "gunicorn"
    printed = output.open("w") if output else None
    server = subprocess.Popen(
        [str(gunicorn), "config.wsgi:application", "-w", str(processes)]
        + ["-b", f"127.0.0.1:{port}", "--log-level", "warning", *extra_args],
        cwd=ROOT,
        env=worker_env(extra_env),
        stdout=printed,
        stderr=subprocess.STDOUT if printed else None,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        # Its processes import the project first: seconds on a loaded machine.
        deadline = time.monotonic() + READY_TIMEOUT
        while not _answers(f"{base}/healthz"):
            if server.poll() is not None:
                raise RuntimeError(f"gunicorn exited early with status {server.returncode}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"gunicorn did not answer /healthz within {READY_TIMEOUT}s")
            time.sleep(0.2)
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)
        if printed:
            printed.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.HTTPError:
        return False
