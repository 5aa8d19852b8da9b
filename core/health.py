"""Liveness and readiness probes for load balancers and orchestrators."""

import ipaddress

import redis
from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.db.models import Max
from django.http import JsonResponse
from django.utils.crypto import constant_time_compare
from django.views.decorators.http import require_safe

from config.celery import app as celery_app
from core.clientip import client_ip


@require_safe
def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_seconds() -> float:
    """How long each check waits on Redis: a probe gives up after a second or two, and a server
    that hangs should make the answer a 503 well before that, not REDIS_SOCKET_TIMEOUT per check."""
    return min(settings.REDIS_SOCKET_TIMEOUT, 1.0)


def _check_broker() -> None:
    seconds = _check_seconds()
    timeouts = {"socket_timeout": seconds, "socket_connect_timeout": seconds}
    with celery_app.connection_for_write(transport_options=timeouts) as conn:
        conn.ensure_connection(max_retries=1, timeout=seconds)


def _check_cache() -> None:
    if not settings.REDIS_URL:
        cache.set("readyz", "ok", 5)
        if cache.get("readyz") != "ok":
            raise RuntimeError("the cache did not return what was stored")
        return
    seconds = _check_seconds()
    with redis.Redis.from_url(
        settings.REDIS_URL, socket_timeout=seconds, socket_connect_timeout=seconds, retry=None
    ) as client:
        client.set("readyz", "ok", ex=5)
        if client.get("readyz") != b"ok":
            raise RuntimeError("the cache did not return what was stored")


READINESS_CHECKS = {"database": _check_database, "broker": _check_broker, "cache": _check_cache}


def _background() -> dict:
    """Who is doing the background work: reported, never a reason to take the web out of rotation."""
    from django_celery_beat.models import PeriodicTask

    from jobs.models import TaskRun
    from jobs.selectors import beats_ticking, workers_seen

    workers = list(workers_seen().values_list("hostname", "last_seen_at"))
    # When beat last sent a schedule (it saves that every few minutes), or a worker last ran the
    # sweep it sent, whichever is later: with every worker stopped, beat still shows alive.
    ticks = [
        PeriodicTask.objects.aggregate(last=Max("last_run_at"))["last"],
        TaskRun.objects.filter(name="jobs_sweep").aggregate(last=Max("started_at"))["last"],
    ]
    last_tick = max(filter(None, ticks), default=None)
    return {
        "workers": [{"hostname": name, "last_seen_at": seen.isoformat()} for name, seen in workers],
        "beat_last_tick": last_tick.isoformat() if last_tick else None,
        # More than one: every schedule is sent as many times.
        "beats": [
            {
                "hostname": beat.hostname,
                "pid": beat.pid,
                "last_seen_at": beat.last_seen_at.isoformat(),
            }
            for beat in beats_ticking()
        ],
    }


def monitoring_allowed(request) -> bool:
    """Whether the caller may read /metrics and the details of /readyz: the metrics token, or an
    address of METRICS_ALLOWED_IPS."""
    if settings.METRICS_TOKEN:
        supplied = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if supplied and constant_time_compare(supplied, settings.METRICS_TOKEN):
            return True
    try:
        address = ipaddress.ip_address(client_ip(request))
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(allowed, strict=False)
        for allowed in settings.METRICS_ALLOWED_IPS
    )


@require_safe
def readyz(request):
    checks = {}
    for name, check in READINESS_CHECKS.items():
        try:
            check()
            checks[name] = {"ok": True}
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none is fatal here
            checks[name] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    ready = all(check["ok"] for check in checks.values())
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    if not monitoring_allowed(request):
        # Anyone may ask whether the web is ready; which hosts fail and how is for operators.
        body["checks"] = {name: {"ok": check["ok"]} for name, check in checks.items()}
    elif checks["database"]["ok"]:
        body.update(_background())
    return JsonResponse(body, status=200 if ready else 503)
