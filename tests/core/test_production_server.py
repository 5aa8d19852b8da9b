"""gunicorn with the production settings, as the Dockerfile and compose run it."""

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.webserver import running_web
from tests.worker import READY_TIMEOUT, ROOT, wait_for, worker_env


@contextlib.contextmanager
def hung_port():
    """A port that accepts connections (the kernel does) and never answers a word."""
    with socket.socket() as hung:
        hung.bind(("127.0.0.1", 0))
        hung.listen(64)
        yield hung.getsockname()[1]


@pytest.fixture
def production_env(tmp_path):
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "offload.example.com",
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=ROOT,
        env=worker_env(env),
        check=True,
    )
    return env


@pytest.mark.django_db(transaction=True)
def test_probes_by_address_static_assets_and_the_host_check(production_env):
    with running_web(processes=1, extra_env=production_env) as base:
        # The compose healthcheck and orchestrators ask by address, not by the public host name.
        assert httpx.get(f"{base}/healthz").json() == {"status": "ok"}
        assert httpx.get(f"{base}/readyz").status_code == 200
        # So does Prometheus, scraping from an address METRICS_ALLOWED_IPS admits.
        metrics = httpx.get(f"{base}/metrics")
        assert metrics.status_code == 200 and "offload_queue_pending" in metrics.text
        # Every other page keeps to ALLOWED_HOSTS.
        assert httpx.get(f"{base}/api/v1/me").status_code == 400
        public = {"Host": "offload.example.com"}
        css = httpx.get(f"{base}/static/admin/css/base.css", headers=public)
        assert css.status_code == 200
        assert css.headers["Content-Type"].startswith("text/css")
        docs = httpx.get(f"{base}/api/docs/", headers=public)
        assert docs.status_code == 200
        script = next(
            part.split('"')[0]
            for part in docs.text.split('src="')[1:]
            if part.startswith("/static/")
        )
        assert httpx.get(f"{base}{script}", headers=public).status_code == 200


@pytest.mark.django_db(transaction=True)
def test_a_redis_url_that_answers_another_protocol_is_a_503(api_key):
    with socket.socket() as web_server:
        web_server.bind(("127.0.0.1", 0))
        web_server.listen(64)

        def answer_http():
            with contextlib.suppress(OSError):
                while True:
                    peer, _ = web_server.accept()
                    with peer:
                        peer.recv(1024)
                        peer.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")

        threading.Thread(target=answer_http, daemon=True).start()
        env = {"REDIS_URL": f"redis://127.0.0.1:{web_server.getsockname()[1]}/0"}
        with running_web(processes=1, extra_env=env) as base:
            response = httpx.get(
                f"{base}/api/v1/me", headers={"Authorization": f"Bearer {api_key}"}, timeout=20
            )
    assert (response.status_code, response.json()["code"]) == (503, "SERVICE_UNAVAILABLE")


@pytest.mark.django_db(transaction=True)
def test_a_batch_look_up_of_too_many_ids_is_answered_by_the_api_not_by_gunicorn(api_key):
    import uuid

    from jobs.api.serializers import MAX_IDS

    ids = ",".join(str(uuid.uuid4()) for _ in range(2 * MAX_IDS))
    with running_web(processes=1) as base:
        response = httpx.get(
            f"{base}/api/v1/jobs",
            params={"ids": ids},
            headers={"Authorization": f"Bearer {api_key}"},
        )
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["errors"] == {"ids": [f"At most {MAX_IDS} ids."]}


@pytest.mark.django_db(transaction=True)
def test_a_body_sent_in_chunks_is_read_and_one_too_big_is_413(api_key, settings):
    def chunks(*parts: bytes):
        yield from parts  # httpx streams an iterator with Transfer-Encoding: chunked

    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    with running_web(processes=1) as base:
        submitted = httpx.post(
            f"{base}/api/v1/jobs",
            content=chunks(b'{"type": "diagnostic", ', b'"payload": {"steps": 0}}'),
            headers=headers,
        )
        assert submitted.request.headers["Transfer-Encoding"] == "chunked"
        assert submitted.status_code == 202, submitted.text
        too_big = httpx.post(
            f"{base}/api/v1/jobs",
            content=chunks(
                b'{"type": "diagnostic", "payload": {"pad": "', b"x" * 3_000_000, b'"}}'
            ),
            headers=headers,
        )
    assert (too_big.status_code, too_big.headers["Content-Type"]) == (
        413,
        "application/problem+json",
    )
    assert submitted.json()["payload"]["steps"] == 0


@pytest.mark.django_db(transaction=True)
def test_a_redis_that_hangs_is_a_503_with_retry_after_not_a_request_held_until_killed(api_key):
    with hung_port() as port:
        redis_url = f"redis://127.0.0.1:{port}/0"
        env = {"REDIS_URL": redis_url, "REDIS_SOCKET_TIMEOUT": "1"}
        with running_web(processes=1, extra_env=env) as base:
            response = httpx.get(
                f"{base}/api/v1/me", headers={"Authorization": f"Bearer {api_key}"}, timeout=20
            )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json()["code"] == "SERVICE_UNAVAILABLE"


def test_a_database_that_never_answers_is_a_503_within_its_connect_timeout(api_key):
    with hung_port() as port:
        database_url = f"postgres://postgres@127.0.0.1:{port}/offload"
        env = {"DATABASE_URL": database_url, "DATABASE_CONNECT_TIMEOUT": "2"}
        with running_web(processes=1, extra_env=env) as base:
            started = time.monotonic()
            ready = httpx.get(f"{base}/readyz", timeout=25)
            api = httpx.get(
                f"{base}/api/v1/me", headers={"Authorization": f"Bearer {api_key}"}, timeout=25
            )
            elapsed = time.monotonic() - started
    assert ready.status_code == 503 and "database" in ready.text
    assert (api.status_code, api.headers["Content-Type"]) == (503, "application/problem+json")
    assert api.json()["code"] == "SERVICE_UNAVAILABLE"
    # Two answers, each within the connect timeout (and its one retry), well before gunicorn's 30 s.
    assert elapsed < 20


@pytest.mark.django_db(transaction=True)
def test_readyz_names_a_redis_that_hangs_before_a_probe_gives_up():
    with hung_port() as port:
        redis_url = f"redis://127.0.0.1:{port}/0"
        env = {
            "REDIS_URL": redis_url,
            "CELERY_BROKER_URL": redis_url,
            # Requests wait this long on Redis; the probe's own checks do not.
            "REDIS_SOCKET_TIMEOUT": "30",
        }
        with running_web(processes=1, extra_env=env) as base:
            # An orchestrator's probe that gives up after a few seconds still gets the answer.
            response = httpx.get(f"{base}/readyz", timeout=5)
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert (checks["database"]["ok"], checks["broker"]["ok"], checks["cache"]["ok"]) == (
        True,
        False,
        False,
    )
    assert "Timeout" in checks["cache"]["error"]


@pytest.mark.django_db(transaction=True)
def test_the_images_command_stops_gunicorn_on_the_sigterm_of_docker_stop(production_env):
    # The Dockerfile's CMD, on a free port: what `docker stop` signals is the process it starts.
    command = json.loads(re.search(r"^CMD (.+)$", (ROOT / "Dockerfile").read_text(), re.M)[1])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command[-1] = command[-1].replace("0.0.0.0:8000", f"127.0.0.1:{port}")
    env = worker_env(production_env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    server = subprocess.Popen(
        command,
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    health = f"http://127.0.0.1:{port}/healthz"
    try:
        wait_for(lambda: _answers(health), timeout=READY_TIMEOUT, message="gunicorn")
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        assert not _answers(health), "gunicorn kept serving after the container's SIGTERM"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.django_db(transaction=True)
def test_a_reload_starts_web_processes_on_the_settings_file_as_it_is_now(tmp_path):
    # `systemctl reload offload-web` (HUP) after .env was edited: the new processes take it.
    env_file = tmp_path / "offload.env"
    env_file.write_text("METRICS_ALLOWED_IPS=127.0.0.1\n")
    pid_file = tmp_path / "gunicorn.pid"
    with running_web(
        processes=1, extra_args=("--pid", str(pid_file)), extra_env={"ENV_FILE": str(env_file)}
    ) as base:
        assert "workers" in httpx.get(f"{base}/readyz", timeout=30).json()
        env_file.write_text("METRICS_ALLOWED_IPS=192.0.2.1\n")
        os.kill(int(pid_file.read_text()), signal.SIGHUP)
        wait_for(
            lambda: "workers" not in httpx.get(f"{base}/readyz", timeout=30).json(),
            message="a web process reading the edited METRICS_ALLOWED_IPS",
        )
