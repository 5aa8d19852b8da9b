"""The admin login's lockout, kept by django-axes: the address a failed login counts against, and
the page a locked-out login is answered with."""

import ipaddress
import math
from datetime import timedelta

from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt, AccessLog
from django.conf import settings
from django.contrib import admin
from django.db.models import Max
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from core.clientip import client_ip, client_limit_key

# Where the client's address is missing or not one (no REMOTE_ADDR, as from a Unix socket): the
# column takes only addresses, and an empty one would match no count, so no lockout would ever be.
UNKNOWN_ADDRESS = "0.0.0.0"


def login_address(request) -> str:
    """The client's address as every per-address limit reads it (through NUM_PROXIES trusted
    proxies), an IPv6 client by its /64 — a host picks any address in it at will, and each would
    otherwise start a fresh count — recorded as the /64's first address. Clients without a
    readable address share one count, under 0.0.0.0."""
    address = client_limit_key(client_ip(request)).partition("/")[0]
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return UNKNOWN_ADDRESS


def login_locked_out(request, original_response, credentials) -> HttpResponse:
    """A 429 that says for how long, the same whether the username exists or not."""
    seconds = _seconds_locked(request, credentials)
    context = {
        **admin.site.each_context(request),
        "title": "Too many failed logins",
        "minutes": math.ceil(seconds / 60),
    }
    response = render(request, "admin/login_locked_out.html", context, status=429)
    response["Retry-After"] = str(seconds)
    return response


def _seconds_locked(request, credentials) -> int:
    """Until the lockout ends: its length after the failure that locked it."""
    cool_off = get_cool_off(request)
    locked_at = AccessAttempt.objects.filter(
        username=get_client_username(request, credentials), ip_address=request.axes_ip_address
    ).aggregate(last=Max("attempt_time"))["last"]
    if locked_at is None:
        return int(cool_off.total_seconds())
    return max(math.ceil((locked_at + cool_off - timezone.now()).total_seconds()), 1)


def admin_login_records_purge() -> dict[str, int]:
    """Delete the record of admin logins older than ADMIN_LOGIN_LOG_DAYS, and the failed-login
    counts whose time has passed (a count is forgotten ADMIN_LOGIN_LOCKOUT_SECONDS after its last
    failure; its row would otherwise stay until that username logs in from that address again)."""
    now = timezone.now()
    log_before = now - timedelta(days=settings.ADMIN_LOGIN_LOG_DAYS)
    count_before = now - timedelta(seconds=settings.ADMIN_LOGIN_LOCKOUT_SECONDS)
    return {
        "admin_logins": _deleted(AccessLog.objects.filter(attempt_time__lt=log_before)),
        "admin_login_counts": _deleted(AccessAttempt.objects.filter(attempt_time__lt=count_before)),
    }


def _deleted(rows) -> int:
    return rows.delete()[1].get(rows.model._meta.label, 0)
