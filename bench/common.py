"""Shared set-up for the benchmarks: a PostgreSQL database and Redis dbs of their own."""

import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def bench_env(name: str, **extra) -> dict:
    """Environment for the benchmark's Django processes (production-like settings)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "SECRET_KEY": "bench-only-secret",
        "DEBUG": "false",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/offload_bench_{name}",
        "REDIS_URL": "redis://127.0.0.1:6379/12",
        "CELERY_BROKER_URL": "redis://127.0.0.1:6379/13",
        "JOBS_ENABLE_DIAGNOSTICS": "true",
        "LOG_LEVEL": "WARNING",
        "LOG_FORMAT": "text",
        "PYTHONPATH": str(ROOT),
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env


def prepare_database(env: dict) -> None:
    """Recreate the benchmark database and migrate it; empty the benchmark's Redis dbs."""
    name = env["DATABASE_URL"].rsplit("/", 1)[-1]
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-c"]
    subprocess.run([*psql, f"DROP DATABASE IF EXISTS {name}"], check=True)
    subprocess.run([*psql, f"CREATE DATABASE {name}"], check=True)
    subprocess.run(
        [str(BIN / "python"), "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True
    )
    for url in (env["REDIS_URL"], env["CELERY_BROKER_URL"]):
        subprocess.run(["redis-cli", "-u", url, "FLUSHDB"], check=True, capture_output=True)


def start_worker(env: dict, *, concurrency: int, include: str | None = None) -> subprocess.Popen:
    command = [
        str(BIN / "celery"),
        "-A",
        "config",
        "worker",
        "-l",
        "warning",
        "-Q",
        "system,urgent,normal,batch",
    ]
    command += ["--concurrency", str(concurrency), "--without-gossip", "--without-mingle"]
    if include:
        command += ["-I", include]
    worker = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    time.sleep(1)
    return worker


def wait_until(predicate, *, timeout: float, interval: float = 0.02) -> float:
    """Poll until predicate() is true; return the time it became true (monotonic)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic()
        time.sleep(interval)
    raise TimeoutError("the benchmark did not finish in time")
