"""Real Celery worker processes for end-to-end tests, on the test database and the real broker."""

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parent.parent
READY_TIMEOUT = 60
BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"


def worker_env(extra_env: dict | None = None) -> dict:
    """The environment of a worker that uses this test run's database, Redis and broker."""
    db = connection.settings_dict
    database_url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url,
        "REDIS_URL": settings.REDIS_URL,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    env.update(extra_env or {})
    return env


def _celery() -> list[str]:
    return [str(Path(sys.executable).parent / "celery"), "-A", "config"]


def _wait_ready(process: subprocess.Popen, log_path: Path, name: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"worker {name} exited early:\n{log_path.read_text()[-4000:]}")
        if " ready." in log_path.read_text():
            return
        time.sleep(0.2)
    raise TimeoutError(
        f"worker {name} not ready after {READY_TIMEOUT}s:\n{log_path.read_text()[-4000:]}"
    )


@contextlib.contextmanager
def running_worker(
    *,
    queues: str = "system,urgent,normal,batch",
    concurrency: int = 1,
    pool: str = "prefork",
    extra_env: dict | None = None,
    name: str | None = None,
):
    """Start `celery -A config worker`, wait until it is ready, yield the process, stop it."""
    name = name or f"test-{uuid.uuid4().hex[:8]}"
    with tempfile.NamedTemporaryFile(prefix=f"offload-{name}-", suffix=".log") as log:
        log_path = Path(log.name)
        command = [*_celery(), "worker", "-l", "info", "-Q", queues, "-n", f"{name}@%h"]
        command += [
            "-P",
            pool,
            "--concurrency",
            str(concurrency),
            "--without-gossip",
            "--without-mingle",
        ]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=worker_env(extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.log_path = log_path
        try:
            _wait_ready(process, log_path, name)
            yield process
        finally:
            worker_stop(process)


def manage(*args: str, env: dict, check: bool = False) -> subprocess.CompletedProcess:
    """`manage.py <args>` in a process of its own, with exactly `env`."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=check,
        capture_output=True,
        text=True,
    )


@contextlib.contextmanager
def running_beat(*, extra_env: dict | None = None):
    """Start `celery -A config beat` on the database scheduler, yield the process (what it prints
    is in the file at its `log_path`), stop it."""
    with tempfile.NamedTemporaryFile(prefix="offload-beat-", suffix=".log") as log:
        process = subprocess.Popen(
            [*_celery(), "beat", "-l", "info", "--scheduler", BEAT_SCHEDULER],
            cwd=ROOT,
            env=worker_env(extra_env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        process.log_path = Path(log.name)
        try:
            yield process
        finally:
            worker_stop(process)


def worker_stop(process: subprocess.Popen, *, sig=signal.SIGTERM, timeout: float = 30) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


def wait_for(predicate, *, timeout: float = 30, interval: float = 0.2, message: str = "condition"):
    """Poll until predicate() is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {message}")
