"""With LOG_FORMAT=json every line the product's processes print is one JSON object: gunicorn's
access and error lines, Celery's worker and beat (their start-up banners included), and Python's
warnings; a log collector parses each line without a pattern of its own."""

import json
import socket
from pathlib import Path

import httpx
import pytest

from jobs.models import Job
from jobs.services import job_submit
from tests.webserver import running_web
from tests.worker import manage as run_manage
from tests.worker import running_beat, running_worker, wait_for, worker_env, worker_stop

pytestmark = pytest.mark.django_db(transaction=True)

JSON_LOGS = {"DJANGO_SETTINGS_MODULE": "tests.jobs.json_log_settings"}


def _parsed(text: str) -> list[dict]:
    """Every line of `text`, each parsed as the JSON object it must be."""
    return [json.loads(line) for line in text.splitlines()]


def test_gunicorns_access_and_error_lines_are_json_with_the_requests_fields(api_key, tmp_path):
    output = tmp_path / "web.log"
    key_in_query = f"/api/v1/jobs?page_size=5&api_key={api_key}"
    with running_web(
        processes=1,
        # Its access log on stdout and its error log on stderr, as deployed; at INFO, so that its
        # start-up and shutdown lines are printed too.
        extra_args=("--access-logfile", "-", "--log-level", "info"),
        # Behind one proxy: the client's address is the one it names.
        extra_env={**JSON_LOGS, "NUM_PROXIES": "1"},
        output=output,
    ) as base:
        headers = {"Authorization": f"Bearer {api_key}", "User-Agent": "probe/1.0"}
        me = httpx.get(
            f"{base}/api/v1/me",
            headers={**headers, "X-Request-Id": "trace-41", "X-Forwarded-For": "203.0.113.9"},
        )
        # Refused (`api_key` is no parameter of the list): logged all the same.
        refused = httpx.get(f"{base}{key_in_query}", headers=headers)
        missing = httpx.get(f"{base}/api/v1/nothing-here")
        # A request gunicorn answers itself, before the product sees it.
        host, port = base.removeprefix("http://").split(":")
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            raw.sendall(b"GET /x HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: abc\r\n\r\n")
            assert raw.recv(64).startswith(b"HTTP/1.1 400 Bad Request")
        wait_for(lambda: '"status": 400' in output.read_text(), message="the 400's access line")
    assert (me.status_code, refused.status_code, missing.status_code) == (200, 400, 404)

    lines = _parsed(output.read_text())
    [web_process] = [
        int(line["message"].removeprefix("Booting worker with pid: "))
        for line in lines
        if line["message"].startswith("Booting worker with pid: ")
    ]
    access = {
        line["path"]: line
        for line in lines
        if line["name"] == "gunicorn.access" and line["path"] != "/healthz"
    }
    assert access["/api/v1/me"] | {"duration_ms": 0, "asctime": "", "timestamp": ""} == {
        "asctime": "",
        "timestamp": "",
        "pid": web_process,
        "levelname": "INFO",
        "name": "gunicorn.access",
        "message": '"GET /api/v1/me HTTP/1.1" 200',
        "method": "GET",
        "path": "/api/v1/me",
        "query": "",
        "status": 200,
        "bytes": len(me.content),
        "duration_ms": 0,
        "request_id": "trace-41",
        "tenant": "alice",
        "job_id": "-",
        "task": "-",
        "remote_addr": "203.0.113.9",
        "user_agent": "probe/1.0",
        "referer": "-",
    }
    assert access["/api/v1/me"]["duration_ms"] > 0
    # The query string is kept, what would give a key away is not.
    assert access["/api/v1/jobs"]["query"] == f"page_size=5&api_key={api_key[:12]}[redacted]"
    assert api_key[12:] not in output.read_text()
    assert access["/api/v1/nothing-here"]["status"] == 404
    assert access["/api/v1/nothing-here"]["request_id"] == missing.headers["X-Request-Id"]
    assert access["/api/v1/nothing-here"]["remote_addr"] == "127.0.0.1"
    assert (access["/x"]["status"], access["/x"]["request_id"]) == (400, "-")

    errors = {line["message"]: line["pid"] for line in lines if line["name"] == "gunicorn.error"}
    # A web process says it boots; the master, which started it, that it shuts down.
    assert errors[f"Booting worker with pid: {web_process}"] == web_process
    assert errors["Shutting down: Master"] not in (web_process, None)


def test_a_workers_lines_and_banner_are_json(tenant):
    with running_worker(extra_env=JSON_LOGS) as worker:
        [pool_process] = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        job = job_submit(tenant=tenant, type="diagnostic", payload={"steps": 1})
        wait_for(lambda: Job.objects.get(pk=job.pk).is_finished, message="the job")
        before_stop = _parsed(worker.log_path.read_text())
        worker_stop(worker)
        printed = worker.log_path.read_text().splitlines()
    [banner] = [line for line in before_stop if line["name"] == "core.celery_programs"]
    assert "[queues]" in banner["message"] and ".> urgent" in banner["message"]
    assert "jobs.job_execute" in banner["message"]
    started = next(line for line in before_stop if " started: diagnostic for " in line["message"])
    assert (started["job_id"], started["tenant"]) == (str(job.pk), "alice")
    # The main process says it started; the pool process that ran the job, the job's lines.
    assert (banner["pid"], started["pid"]) == (worker.pid, int(pool_process))
    # Celery writes its shutdown notice from its signal handler, where no log line can be
    # written: the one line that is not JSON.
    assert [line for line in printed if not line.startswith("{")] == [
        "",
        "worker: Warm shutdown (MainProcess)",
    ]


def test_beats_lines_and_banner_are_json():
    with running_beat(extra_env=JSON_LOGS) as beat:
        wait_for(lambda: "celery beat v" in beat.log_path.read_text(), message="beat's banner")
        worker_stop(beat)
        lines = _parsed(beat.log_path.read_text())
    [banner] = [line for line in lines if line["name"] == "core.celery_programs"]
    assert banner["message"].startswith("celery beat v")
    assert "DatabaseScheduler" in banner["message"]
    assert banner["pid"] == beat.pid


def test_pythons_warnings_are_log_lines_too():
    shown = run_manage(
        "shell",
        "-c",
        "import warnings; warnings.warn('Deprecated call.')",
        env=worker_env(JSON_LOGS),
    )
    [warning] = [json.loads(line) for line in shown.stderr.splitlines()]
    assert (warning["name"], warning["levelname"]) == ("py.warnings", "WARNING")
    assert "UserWarning: Deprecated call." in warning["message"]
