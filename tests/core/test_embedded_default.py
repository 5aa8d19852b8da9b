"""The embedded default: no PostgreSQL, no Redis, no broker server. SQLite and kombu's filesystem
transport under VAR_DIR, with a real worker process running a real task through them."""

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.worker import ROOT, manage, wait_for, worker_stop

SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "MEDIA_ROOT")
# How long a worker is left waiting for work before it is told to stop: its pool processes are
# then waiting for messages, as they are when `make run` is stopped, rather than still starting.
IDLE_SECONDS = 1


@pytest.fixture
def embedded_env(tmp_path):
    env = {key: value for key, value in os.environ.items() if key not in SERVICE_VARIABLES}
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "DEBUG": "true",
            "SECRET_KEY": "embedded-test",
            "VAR_DIR": str(tmp_path),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _manage(env, *args):
    return manage(*args, env=env, check=True).stdout


def _worker(env, log, concurrency: int = 1) -> subprocess.Popen:
    celery = str(Path(sys.executable).parent / "celery")
    return subprocess.Popen(
        [
            celery,
            "-A",
            "config",
            "worker",
            "-l",
            "info",
            "-Q",
            "system,urgent,normal,batch",
            "--concurrency",
            str(concurrency),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _submit(env, *payloads: dict) -> None:
    """Diagnostic jobs of a new workspace, submitted in a shell of their own."""
    _manage(
        env,
        "shell",
        "-c",
        "from accounts.models import Tenant; from jobs.services import job_submit; "
        "t, _ = Tenant.objects.get_or_create(slug='laptop', defaults={'name': 'Laptop'}); "
        f"[job_submit(tenant=t, type='diagnostic', payload=p) for p in {list(payloads)!r}]",
    )


def _statuses(database) -> dict[str, str]:
    with sqlite3.connect(database) as db:
        return dict(db.execute("SELECT id, status FROM jobs_job"))


def test_a_job_runs_through_sqlite_and_the_filesystem_broker(embedded_env, tmp_path):
    _manage(embedded_env, "migrate", "--noinput", "-v0")
    database = tmp_path / "offload.sqlite3"
    assert database.exists()
    log = (tmp_path / "worker.log").open("w")
    worker = _worker(embedded_env, log)
    try:
        _submit(embedded_env, {"steps": 2, "step_seconds": 0.1})
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline:
            with sqlite3.connect(database) as db:
                status, result = db.execute("SELECT status, result FROM jobs_job").fetchone()
            if status == "completed":
                break
            time.sleep(0.5)
        assert status == "completed", (tmp_path / "worker.log").read_text()[-3000:]
        assert '"attempt": 1' in result
        assert (tmp_path / "broker").is_dir()
        with sqlite3.connect(database) as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            started = db.execute("SELECT attempt FROM jobs_jobevent WHERE kind = 'started'")
            assert started.fetchall() == [(1,)]
        # /metrics adds up what every process counted: the shell submitted, the worker completed.
        scrape = (
            "from prometheus_client import CollectorRegistry, generate_latest; "
            "from core.metrics import SharedMetricsCollector; "
            "registry = CollectorRegistry(); registry.register(SharedMetricsCollector()); "
            "print(generate_latest(registry).decode())"
        )
        wanted = [
            'offload_jobs_submitted_total{type="diagnostic"} 1.0',
            'offload_jobs_completed_total{type="diagnostic"} 1.0',
            'offload_job_duration_seconds_count{type="diagnostic"} 1.0',
        ]
        deadline = time.monotonic() + 10
        while True:
            scraped = _manage(embedded_env, "shell", "-c", scrape)
            if all(line in scraped for line in wanted) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert all(line in scraped for line in wanted), scraped
        assert "No hostname was supplied" not in (tmp_path / "worker.log").read_text()
    finally:
        worker_stop(worker)
        log.close()


@pytest.fixture
def start_worker(embedded_env, tmp_path):
    """Starts embedded workers one after another, each once it says it is ready; all are stopped
    at the end. Their output goes to tmp_path/worker.log."""
    _manage(embedded_env, "migrate", "--noinput", "-v0")
    log_path, started = tmp_path / "worker.log", []
    with log_path.open("w") as log:

        def start(concurrency: int = 1) -> subprocess.Popen:
            started.append(_worker(embedded_env, log, concurrency))
            wait_for(lambda: log_path.read_text().count("ready.") == len(started), timeout=60)
            return started[-1]

        try:
            yield start
        finally:
            for worker in started:
                worker_stop(worker)


def test_jobs_a_killed_worker_held_run_as_soon_as_the_next_worker_starts(
    embedded_env, tmp_path, start_worker
):
    """This broker deletes a message as a worker takes it: what the worker held dies with it."""
    database = tmp_path / "offload.sqlite3"
    first = start_worker()
    _submit(embedded_env, {"steps": 600, "step_seconds": 0.1}, {"steps": 1}, {"steps": 1})
    # The long job runs; the worker has taken another's message off the disk.
    wait_for(
        lambda: sorted(_statuses(database).values()) == ["pending", "pending", "processing"]
        and len(list((tmp_path / "broker").glob("*.msg"))) < 2,
        timeout=60,
        message="the worker to hold a message",
    )
    held = [job for job, status in _statuses(database).items() if status == "pending"]
    worker_stop(first, sig=signal.SIGKILL)  # as honcho does to a worker slow to stop

    start_worker()

    # The sweeper would send them again JOBS_STALE_AFTER_SECONDS (300) after they were sent.
    wait_for(
        lambda: all(_statuses(database)[job] == "completed" for job in held),
        timeout=60,
        message="the held jobs to complete",
    )


def test_a_job_running_at_ctrl_c_waits_pending_for_the_next_worker(
    embedded_env, tmp_path, start_worker
):
    database = tmp_path / "offload.sqlite3"
    first = start_worker()
    _submit(embedded_env, *[{"steps": 20, "step_seconds": 0.2}] * 3)
    wait_for(lambda: "processing" in _statuses(database).values(), timeout=60)
    # Ctrl-C: honcho sends SIGTERM to each process's group, and kills what is left in 5 s.
    # The pool process started meanwhile must start none of the jobs the worker held.
    worker_stop(first, sig=signal.SIGTERM, timeout=5)
    statuses = set(_statuses(database).values())
    assert statuses == {"pending"}, (tmp_path / "worker.log").read_text()[-3000:]

    start_worker()
    wait_for(lambda: set(_statuses(database).values()) == {"completed"}, timeout=90)


@pytest.mark.parametrize(
    ("sig", "tries"), [(signal.SIGTERM, 2), (signal.SIGINT, 1)], ids=["SIGTERM", "SIGINT"]
)
def test_an_idle_worker_stops_within_honchos_five_seconds(tmp_path, start_worker, sig, tries):
    """Ctrl-C: honcho sends SIGTERM to each process's group and kills what is left in 5 s; a
    terminal sends SIGINT to the group. The worker has two pool processes, as `make run` starts
    it, left idle a moment: one such stop in two to four used to hang under load (SIGTERM reaches the pool
    processes, which ignore SIGINT)."""
    for _ in range(tries):
        worker = start_worker(concurrency=2)
        time.sleep(IDLE_SECONDS)
        started = time.monotonic()
        worker_stop(worker, sig=sig, timeout=10)
        stopped_after = time.monotonic() - started
        log = (tmp_path / "worker.log").read_text()
        assert "exited with 'signal" not in log, log[-3000:]
        # About 1.7 s on an idle machine.
        assert stopped_after < 5, f"stopped after {stopped_after:.1f}s"


def test_an_attempt_over_its_time_limit_fails_as_a_retryable_timeout(embedded_env, tmp_path):
    """The embedded default's pool enforces the job types' time limits as Celery's does."""
    database = tmp_path / "offload.sqlite3"
    _manage(embedded_env, "migrate", "--noinput", "-v0")
    _submit(embedded_env, {"steps": 20, "step_seconds": 0.5})
    with sqlite3.connect(database) as db:
        db.execute("UPDATE jobs_job SET max_attempts = 1")
    log = (tmp_path / "worker.log").open("w")
    worker = _worker({**embedded_env, "JOBS_TIME_LIMITS": "diagnostic=1"}, log, concurrency=2)
    try:
        wait_for(
            lambda: set(_statuses(database).values()) == {"failed"},
            timeout=60,
            message="the job to fail",
        )
        with sqlite3.connect(database) as db:
            failed = db.execute("SELECT error_code, error_message FROM jobs_job").fetchone()
        assert failed == ("TIMEOUT", "The attempt took longer than 1s.")
    finally:
        worker_stop(worker)
        log.close()


REVOKED_ELSEWHERE = """
import subprocess, sys
from accounts.models import Tenant
from accounts.services import api_key_authenticate, api_key_create
key, plaintext = api_key_create(tenant=Tenant.objects.create(slug="laptop", name="L"), name="k")
print("used:", api_key_authenticate(plaintext) is not None)
subprocess.run(
    [sys.executable, "manage.py", "revoke_api_key", key.prefix], check=True, capture_output=True
)
print("refused:", api_key_authenticate(plaintext) is None)
"""


def test_a_key_revoked_by_a_command_is_refused_by_the_web_at_once(embedded_env):
    _manage(embedded_env, "migrate", "--noinput", "-v0")
    said = _manage(embedded_env, "shell", "-v0", "-c", REVOKED_ELSEWHERE)
    assert said.splitlines() == ["used: True", "refused: True"]


def test_the_checks_raise_no_warning_on_sqlite(embedded_env):
    checked = subprocess.run(
        [sys.executable, "manage.py", "check", "--database", "default"],
        cwd=ROOT,
        env=embedded_env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert "System check identified no issues" in checked.stdout
    assert "WARNINGS" not in checked.stderr


def test_variables_set_to_nothing_mean_their_defaults(embedded_env, tmp_path):
    # As in a copy of .env.example: `DATABASE_URL=`, `CELERY_BROKER_URL=`, ...
    env = {**embedded_env, **dict.fromkeys(SERVICE_VARIABLES, ""), "STATIC_ROOT": ""}
    shown = _manage(
        env,
        "shell",
        "-c",
        "from django.conf import settings as s; "
        "print(s.DATABASES['default']['ENGINE'], s.CELERY_BROKER_URL, s.MEDIA_ROOT, s.STATIC_ROOT,"
        " sep='|')",
    )
    engine, broker, media, static = shown.splitlines()[-1].split("|")
    assert engine == "django.db.backends.sqlite3"
    assert broker.startswith("filesystem://")
    assert media == str(tmp_path / "media")
    assert static == str(ROOT / "staticfiles")
