"""Periodic tasks declared in code by name and upserted into django-celery-beat.

Each app may have a `schedules.py` with `def schedules() -> list[Schedule]`. The admin can pause a
schedule or change its timing, and both outlast `migrate` and `sync_schedules`: a synced row's
description notes the timing the code declared, and the row gets the declared timing again only
when the code declares another one, or from `sync_schedules --reset-timing`.
"""

import json
from dataclasses import dataclass, field
from importlib import import_module

from django.apps import apps
from django.conf import settings


@dataclass(frozen=True)
class Schedule:
    name: str
    task: str
    crontab: str | None = None
    every_seconds: int | None = None
    # Not a jobs queue: behind a backlog of jobs, the sweeper and the reaper would run late.
    queue: str = "system"
    kwargs: dict = field(default_factory=dict)

    def declared_note(self) -> str:
        timing = (
            f"crontab {self.crontab} ({settings.TIME_ZONE})"
            if self.crontab
            else f"every {self.every_seconds} seconds"
        )
        return (
            f"Timing declared in code: {timing}. A timing changed here is kept until the code "
            "declares another one (or `manage.py sync_schedules --reset-timing`)."
        )


def schedules_declared() -> list[Schedule]:
    declared = []
    for app_config in apps.get_app_configs():
        try:
            module = import_module(f"{app_config.name}.schedules")
        except ModuleNotFoundError as exc:
            if exc.name != f"{app_config.name}.schedules":
                raise
            continue
        declared.extend(module.schedules())
    return declared


def schedules_sync(*, reset_timing: bool = False) -> dict[str, bool]:
    """Create or update every declared schedule, keeping its pause and a timing set in the admin
    (unless `reset_timing`). Returns, by name, whether the row keeps a timing of the admin's."""
    from django_celery_beat.models import PeriodicTask

    synced = {}
    for schedule in schedules_declared():
        row = PeriodicTask.objects.filter(name=schedule.name).first()
        declared = _timing_declared(schedule)
        note = schedule.declared_note()
        keeps_admin_timing = (
            row is not None
            and not reset_timing
            # The note a sync left: the code still declares what it declared then.
            and row.description == note
            and any(getattr(row, column) != value for column, value in declared.items())
        )
        PeriodicTask.objects.update_or_create(
            name=schedule.name,
            defaults={
                "task": schedule.task,
                "queue": schedule.queue,
                "kwargs": json.dumps(schedule.kwargs),
                "description": note,
                **({} if keeps_admin_timing else declared),
            },
        )
        synced[schedule.name] = keeps_admin_timing
    # Beat's own result cleanup, which earlier releases let it add: no results are kept.
    PeriodicTask.objects.filter(name="celery.backend_cleanup").delete()
    return synced


def _timing_declared(schedule: Schedule) -> dict:
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule

    timing = dict.fromkeys(["interval_id", "crontab_id", "solar_id", "clocked_id"])
    if schedule.crontab:
        minute, hour, day_of_month, month_of_year, day_of_week = schedule.crontab.split()
        timing["crontab_id"] = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            timezone=settings.TIME_ZONE,
        )[0].pk
    else:
        timing["interval_id"] = IntervalSchedule.objects.get_or_create(
            every=schedule.every_seconds, period=IntervalSchedule.SECONDS
        )[0].pk
    return timing


def schedules_sync_after_migrate(**kwargs):
    schedules_sync()
