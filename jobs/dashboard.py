"""The queue dashboard in the admin: what is queued, running, failing, and who is working."""

from datetime import timedelta

from django.contrib import admin
from django.db.models import Count, Max, Min, Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django_celery_beat.models import PeriodicTask

from accounts.models import Notification
from jobs.models import DUE_SINCE, Job, Priority
from jobs.registry import job_types
from jobs.selectors import (
    NEEDING_ATTENTION,
    beats_ticking,
    due_by_workspace,
    job_counts,
    job_types_stored,
    queue_depths,
    queue_worker_processes,
    task_run_last,
    workers_seen,
)

# The dashboard lists this many open alerts, and counts the rest.
OPEN_ALERTS_SHOWN = 20


def _changelist(**filters) -> str:
    """The jobs list under the filters given by the parameters of its own sidebar filters (see
    JobAdmin.list_filter), so that the sidebar shows them chosen and a click there refines them."""
    return f"{reverse('admin:jobs_job_changelist')}?{urlencode(filters)}"


def _seconds(wait: timedelta) -> timedelta:
    """A wait as staff read it: 0:01:06, not 0:01:06.066377."""
    return timedelta(seconds=round(wait.total_seconds()))


def _queues(processes: dict[str, int]) -> list[dict]:
    depths = queue_depths()
    oldest = dict(
        Job.objects.due().order_by().values_list("priority").annotate(oldest=Min(DUE_SINCE))
    )
    now = timezone.now()
    return [
        {
            "name": queue,
            "pending": depths[queue],
            "oldest_wait": _seconds(now - oldest[queue]) if queue in oldest else None,
            "processes": processes[queue],
            "url": _changelist(priority__exact=queue, due="yes"),
        }
        for queue in Priority.values
    ]


def _last_hour_by_type() -> list[dict]:
    """Each type's jobs finished in the last hour, found in the index of each type's finish times
    (job_type_finished_idx, which holds their status too): by the time alone, every job is read."""
    since = timezone.now() - timedelta(hours=1)
    rows = (
        Job.objects.filter(type__in=job_types_stored(), finished_at__gte=since)
        .order_by()
        .values("type")
        .annotate(
            completed=Count("status", filter=Q(status=Job.Status.COMPLETED)),
            failed=Count("status", filter=Q(status=Job.Status.FAILED)),
        )
    )
    return [
        {
            **row,
            "failure_rate": row["failed"] / (row["completed"] + row["failed"])
            if row["completed"] + row["failed"]
            else 0.0,
            "failed_url": _changelist(type=row["type"], status__exact="failed"),
        }
        for row in rows.order_by("type")
    ]


def _schedules() -> list[dict]:
    """Each schedule's last run, linked to its runs."""
    runs = {}
    for task in PeriodicTask.objects.order_by("name"):
        run_name = task.task.rsplit(".", 1)[-1]
        runs[task.name] = {
            "task": task,
            "last_run": task_run_last(run_name),
            "url": f"{reverse('admin:jobs_taskrun_changelist')}?name={run_name}",
        }
    return list(runs.values())


def _caps() -> list[dict]:
    """Each capped type: its caps, its jobs running, and those waiting for a slot."""
    capped = [job_type for job_type in job_types() if job_type.capped]
    names = [job_type.name for job_type in capped]
    running = dict(
        Job.objects.filter(type__in=names, status=Job.Status.PROCESSING)
        .order_by()
        .values_list("type")
        .annotate(n=Count("id"))
    )
    waiting = {
        row["type"]: row
        for row in Job.objects.waiting_for_slot()
        .filter(type__in=names)
        .order_by()
        .values("type")
        .annotate(n=Count("id"), since=Min("waiting_since"))
    }
    now = timezone.now()
    return [
        {
            "type": job_type.name,
            "cap": job_type.concurrency_cap,
            "cap_per_tenant": job_type.concurrency_cap_per_tenant,
            "running": running.get(job_type.name, 0),
            "waiting": waiting.get(job_type.name, {}).get("n", 0),
            "longest_wait": _seconds(now - waiting[job_type.name]["since"])
            if job_type.name in waiting
            else None,
            "url": _changelist(attention="capacity", type=job_type.name),
        }
        for job_type in capped
    ]


def _attention() -> list[dict]:
    return [
        {
            "value": value,
            "label": label,
            "count": getattr(Job.objects, method)().count(),
            "url": _changelist(attention=value),
        }
        for value, (label, method) in NEEDING_ATTENTION.items()
    ]


def _open_alerts() -> dict:
    """Each open alert once, however many admins it went to (a notification each): the
    OPEN_ALERTS_SHOWN raised last, newest first, each with its latest title and its number of
    admins; and how many alerts are open in all."""
    alerts = (
        Notification.objects.filter(resolved_at__isnull=True)
        .exclude(alert_key="")
        .order_by()
        .values("tenant", "kind", "alert_key")
        .annotate(since=Min("created_at"), recipients=Count("id"), latest=Max("id"))
        .order_by("-since", "-latest")
    )
    shown = list(alerts[:OPEN_ALERTS_SHOWN])
    latest = Notification.objects.select_related("tenant").in_bulk(
        [alert["latest"] for alert in shown]
    )
    return {
        # One deleted since (with its workspace) is left out.
        "shown": [
            {**alert, "notification": latest[alert["latest"]]}
            for alert in shown
            if alert["latest"] in latest
        ],
        "count": alerts.count() if len(shown) == OPEN_ALERTS_SHOWN else len(shown),
    }


def queue_dashboard_view(request):
    counts = job_counts(Job.objects.all())
    for row in counts:
        row["cells"] = [
            {
                "count": row[status],
                "url": _changelist(
                    type=row["type"], priority__exact=row["queue"], status__exact=status
                ),
            }
            for status in Job.Status.values
        ]
    # From the same count, rather than a second pass over the whole table.
    totals = {status: sum(row[status] for row in counts) for status in Job.Status.values}
    processes = queue_worker_processes()
    context = {
        **admin.site.each_context(request),
        "title": "Queue dashboard",
        "opts": Job._meta,
        "statuses": Job.Status.values,
        "counts": counts,
        "status_cells": [
            {
                "status": status,
                "count": totals.get(status, 0),
                "url": _changelist(status__exact=status),
            }
            for status in Job.Status.values
        ],
        "dead_letter_url": _changelist(dead_letter="yes"),
        "dead_letter_count": totals.get(Job.Status.FAILED, 0),
        "attention": _attention(),
        "queues": _queues(processes),
        "unserved": [queue for queue, n in processes.items() if not n],
        "workspaces": [
            {**row, "url": _changelist(tenant=row["tenant_id"], due="yes")}
            for row in due_by_workspace()
        ],
        "caps": _caps(),
        "last_hour": _last_hour_by_type(),
        "workers": workers_seen(),
        "beats": beats_ticking(),
        # Each for staff who may view what it shows (task runs, notifications), as in their lists.
        "schedules": _schedules() if request.user.has_perm("jobs.view_taskrun") else None,
        "open_alerts": _open_alerts()
        if request.user.has_perm("accounts.view_notification")
        else None,
    }
    return TemplateResponse(request, "admin/jobs/dashboard.html", context)
