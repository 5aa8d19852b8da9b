"""The embedded default: no PostgreSQL, no Redis, no broker server. SQLite and kombu's filesystem
transport under VAR_DIR, with a real worker process running a real task through them."""

import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.worker import ROOT, worker_stop

SERVICE_VARIABLES = ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "MEDIA_ROOT")


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
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def test_a_job_runs_through_sqlite_and_the_filesystem_broker(embedded_env, tmp_path):
    _manage(embedded_env, "migrate", "--noinput", "-v0")
    database = tmp_path / "offload.sqlite3"
    assert database.exists()
    log = (tmp_path / "worker.log").open("w")
    celery = str(Path(sys.executable).parent / "celery")
    worker = subprocess.Popen(
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
            "1",
        ],
        cwd=ROOT,
        env=embedded_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _manage(
            embedded_env,
            "shell",
            "-c",
            "from accounts.models import Tenant; from jobs.services import job_submit; "
            "t = Tenant.objects.create(slug='laptop', name='Laptop'); "
            "job_submit(tenant=t, type='diagnostic', payload={'steps': 2, 'step_seconds': 0.1})",
        )
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
