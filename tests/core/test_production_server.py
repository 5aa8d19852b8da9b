"""gunicorn with the production settings, as the Dockerfile and compose run it."""

import subprocess
import sys

import httpx
import pytest

from tests.webserver import running_web
from tests.worker import ROOT, worker_env


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
