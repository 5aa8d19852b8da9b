"""Periodic tasks declared in code by name and upserted into django-celery-beat.

Each app may have a `schedules.py` with `def schedules() -> list[Schedule]`. The admin can pause a
schedule (its `enabled` flag is kept) or change its timing until the next deploy re-syncs it.
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


def schedules_sync() -> list[str]:
    from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

    synced = []
    for schedule in schedules_declared():
        timing = {"interval": None, "crontab": None}
        if schedule.crontab:
            minute, hour, day_of_month, month_of_year, day_of_week = schedule.crontab.split()
            timing["crontab"], _ = CrontabSchedule.objects.get_or_create(
                minute=minute,
                hour=hour,
                day_of_month=day_of_month,
                month_of_year=month_of_year,
                day_of_week=day_of_week,
                timezone=settings.TIME_ZONE,
            )
        else:
            timing["interval"], _ = IntervalSchedule.objects.get_or_create(
                every=schedule.every_seconds, period=IntervalSchedule.SECONDS
            )
        PeriodicTask.objects.update_or_create(
            name=schedule.name,
            defaults={
                "task": schedule.task,
                "queue": schedule.queue,
                "kwargs": json.dumps(schedule.kwargs),
                **timing,
            },
        )
        synced.append(schedule.name)
    return synced


def schedules_sync_after_migrate(**kwargs):
    schedules_sync()
