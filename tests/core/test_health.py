import pytest

from config.celery import app as celery_app


def test_healthz_answers_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response["X-Request-Id"]


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_head_as_get_without_a_body(db, client, path):
    response = client.head(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.content == b""


def test_readyz_reports_each_dependency(db, client):
    response = client.get("/readyz")
    body = response.json()
    assert response.status_code == 200, body
    assert set(body["checks"]) == {"database", "broker", "cache"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readyz_names_an_unreachable_broker(db, client, monkeypatch):
    monkeypatch.setattr(celery_app.conf, "broker_write_url", "redis://127.0.0.1:1/0")
    response = client.get("/readyz")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["broker"]["ok"] is False
    assert checks["database"]["ok"] is True


def test_me_shows_the_callers_tenant(api_client, tenant):
    response = api_client.get("/api/v1/me")
    assert response.status_code == 200
    assert response.json()["tenant"]["slug"] == tenant.slug
    assert response.json()["role"] == "admin"


def test_the_openapi_schema_and_docs_are_served_without_third_party_assets(client, db):
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert "/api/v1/jobs" in paths
    docs = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in docs
    assert "cdn." not in docs and "jsdelivr" not in docs and "unpkg" not in docs


def test_readyz_says_which_workers_and_beat_are_alive(db, client):
    from django.utils import timezone

    from jobs.models import WorkerSeen
    from jobs.runs import task_run

    assert client.get("/readyz").json()["workers"] == []
    WorkerSeen.objects.create(hostname="worker-1@host", last_seen_at=timezone.now())
    with task_run("jobs_sweep"):
        pass
    body = client.get("/readyz").json()
    assert [worker["hostname"] for worker in body["workers"]] == ["worker-1@host"]
    assert body["beat_last_tick"] is not None


def test_readyz_shows_beat_alive_with_every_worker_stopped(db, client):
    from django.utils import timezone
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    sent = timezone.now().replace(microsecond=0)
    every_minute = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="sent", task="jobs.sweep", interval=every_minute, last_run_at=sent
    )
    assert client.get("/readyz").json()["beat_last_tick"] == sent.isoformat()


def test_the_schema_generates_without_warnings():
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_readyz_tells_strangers_only_what_is_ready(db, client, monkeypatch):
    from jobs.models import WorkerSeen

    WorkerSeen.objects.create(hostname="celery@worker-7.prod.internal", pid=1)
    monkeypatch.setattr(celery_app.conf, "broker_write_url", "redis://127.0.0.1:1/0")
    response = client.get("/readyz", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": {"ok": True}, "broker": {"ok": False}, "cache": {"ok": True}},
    }
    operator = client.get("/readyz", REMOTE_ADDR="127.0.0.1").json()
    assert operator["checks"]["broker"]["error"]
    assert operator["workers"][0]["hostname"] == "celery@worker-7.prod.internal"


SECURITY_HEADERS = (
    "Strict-Transport-Security",
    "X-Content-Type-Options",
    "X-Frame-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
)


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_and_metrics_carry_the_sites_security_headers(db, client, settings, path):
    settings.SECURE_HSTS_SECONDS = 3600
    site = client.get("/api/v1/me", secure=True)
    probe = client.get(path, secure=True)
    assert probe.status_code == 200
    expected = {name: site[name] for name in SECURITY_HEADERS}
    assert {name: probe.get(name) for name in SECURITY_HEADERS} == expected
