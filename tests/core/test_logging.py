import json
import logging
import os
import re
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from django.conf import settings

from core.logging import ContextFilter
from core.request_context import (
    bind_log_context,
    set_request_id,
    unbind_log_context,
)
from tests.webserver import running_web
from tests.worker import READY_TIMEOUT, ROOT, wait_for, worker_env


def _formatted(formatter_name: str, **context) -> str:
    formatter_config = dict(settings.LOGGING["formatters"][formatter_name])
    factory = formatter_config.pop("()", None)
    if factory:
        from django.utils.module_loading import import_string

        formatter = import_string(factory)(
            **{key: value for key, value in formatter_config.items()}
        )
    else:
        formatter = logging.Formatter(formatter_config["format"])
    record = logging.LogRecord("offload.test", logging.INFO, __file__, 1, "claimed", None, None)
    set_request_id("req-123")
    context_token = bind_log_context(**context)
    try:
        ContextFilter().filter(record)
    finally:
        unbind_log_context(context_token)
        set_request_id(None)
    return formatter.format(record)


def test_json_lines_carry_the_request_tenant_job_and_task():
    line = json.loads(_formatted("json", tenant="alice", job_id="j-1", task="jobs.job_execute"))
    assert line["message"] == "claimed"
    # Which process wrote it, among the web, worker and beat processes sharing one journal.
    assert line["pid"] == os.getpid()
    assert (line["request_id"], line["tenant"], line["job_id"], line["task"]) == (
        "req-123",
        "alice",
        "j-1",
        "jobs.job_execute",
    )
    # A log pipeline reads when it happened without guessing the host's time zone.
    stamped = datetime.fromisoformat(line["timestamp"])
    assert stamped.utcoffset() == timedelta(0)
    assert abs(datetime.now(UTC) - stamped) < timedelta(seconds=60)


def test_readable_lines_carry_them_too():
    line = _formatted("text", tenant="alice", job_id="j-2", task="jobs.job_execute")
    assert "[req-123 alice jobs.job_execute j-2]" in line and line.endswith("claimed")
    assert f" [{os.getpid()}] INFO offload.test [" in line
    # Outside a workspace's work, each is a dash.
    assert "[req-123 - - -] claimed" in _formatted("text")


def _access_lines(log: str, path: str) -> list[str]:
    return [line for line in log.splitlines() if f"GET {path} HTTP/1.1" in line]


@pytest.mark.django_db(transaction=True)
def test_gunicorns_access_line_names_the_web_process_and_the_requests_id(api_key, tmp_path):
    access_log = tmp_path / "access.log"
    with running_web(
        processes=1,
        extra_args=("--access-logfile", str(access_log), "--log-level", "info"),
        output=tmp_path / "web.log",
    ) as base:
        headers = {"Authorization": f"Bearer {api_key}"}
        supplied = httpx.get(f"{base}/api/v1/me", headers={**headers, "X-Request-Id": "trace-7"})
        minted = httpx.get(f"{base}/api/v1/nothing-here", headers=headers)
    assert (supplied.status_code, minted.status_code) == (200, 404)
    [web_process] = re.findall(
        r"Booting worker with pid: (\d+)", (tmp_path / "web.log").read_text()
    )
    log = access_log.read_text()
    assert _access_lines(log, "/api/v1/me")[0].endswith(f" pid={web_process} request_id=trace-7")
    assert _access_lines(log, "/api/v1/nothing-here")[0].endswith(
        f" request_id={minted.headers['X-Request-Id']}"
    )


@pytest.mark.django_db(transaction=True)
def test_runservers_access_line_names_the_requests_id(api_key, tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    output = (tmp_path / "runserver.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env=worker_env({"DEBUG": "true"}),
        stdout=output,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: _answers(f"{base}/healthz"), timeout=READY_TIMEOUT, message="runserver")
        headers = {"Authorization": f"Bearer {api_key}", "X-Request-Id": "trace-8"}
        assert httpx.get(f"{base}/api/v1/me", headers=headers).status_code == 200
        # A request after it, on a connection of its own, names nothing of the first.
        assert httpx.get(f"{base}/api/v1/me", headers={"Authorization": "Bearer x"}).is_error
        # runserver writes a request's access line after its response has gone out.
        wait_for(
            lambda: len(_access_lines((tmp_path / "runserver.log").read_text(), "/api/v1/me")) == 2,
            message="both access lines",
        )
    finally:
        server.terminate()
        server.wait(30)
    log = (tmp_path / "runserver.log").read_text()
    first, second = _access_lines(log, "/api/v1/me")
    assert "[trace-8 " in first
    assert "trace-8" not in second


def _answers(url: str) -> bool:
    try:
        return httpx.get(url).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.django_db(transaction=True)
def test_under_asgi_a_requests_id_is_not_left_behind_it(api_key):
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    from asgiref.sync import sync_to_async
    from django.db import connections
    from django.test import AsyncClient

    from core.request_context import current_request_id, log_context

    async def request():
        headers = {"Authorization": f"Bearer {api_key}", "X-Request-Id": "trace-9"}
        response = await AsyncClient().get("/api/v1/me", headers=headers)
        await sync_to_async(connections.close_all)()  # the view's thread's, as a server would
        return response.status_code, response["X-Request-Id"], current_request_id(), log_context()

    # In a thread of its own: the browser tests' driver may hold an event loop in this one.
    with ThreadPoolExecutor(1) as thread:
        answered = thread.submit(asyncio.run, request()).result()
    assert answered == (200, "trace-9", None, {})
