"""Schedules declared in code, upserted into django-celery-beat, and the queue they run on."""

import shlex

import yaml
from django_celery_beat.models import PeriodicTask

from core.scheduling import schedules_declared, schedules_sync
from tests.worker import ROOT

MAINTENANCE = {
    "jobs-sweep",
    "jobs-reap-stale",
    "jobs-purge",
    "ops-health-check",
    "budget-alert-check",
    "share-link-cleanup",
}


def _queues_of(command: list[str]) -> list[str]:
    return command[command.index("-Q") + 1].split(",")


def test_every_schedule_runs_on_the_system_queue(db):
    assert {schedule.name for schedule in schedules_declared()} == MAINTENANCE
    schedules_sync()
    queues = dict(PeriodicTask.objects.filter(name__in=MAINTENANCE).values_list("name", "queue"))
    assert queues == dict.fromkeys(MAINTENANCE, "system")


def test_a_deploy_moves_existing_schedules_to_the_system_queue_and_keeps_them_paused(db):
    schedules_sync()
    # What the rows of an earlier release look like: on the jobs' queue, one paused in the admin.
    PeriodicTask.objects.filter(name__in=MAINTENANCE).update(queue="normal")
    PeriodicTask.objects.filter(name="jobs-purge").update(enabled=False)
    schedules_sync()
    assert set(
        PeriodicTask.objects.filter(name__in=MAINTENANCE).values_list("queue", flat=True)
    ) == {"system"}
    assert not PeriodicTask.objects.get(name="jobs-purge").enabled
    assert PeriodicTask.objects.filter(name__in=MAINTENANCE).count() == len(MAINTENANCE)


def test_every_worker_the_project_starts_consumes_the_system_queue_first():
    procfile = dict(
        line.split(": ", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    compose_worker = shlex.split(compose["services"]["worker"]["command"][-1])
    for command in (shlex.split(procfile["worker"]), compose_worker):
        assert _queues_of(command) == ["system", "urgent", "normal", "batch"], command
