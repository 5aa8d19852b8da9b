"""Schedules declared in code, upserted into django-celery-beat, and the queue they run on."""

import shlex
from io import StringIO
from types import SimpleNamespace

import pytest
import yaml
from django.core.management import call_command
from django.core.management.sql import emit_post_migrate_signal
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

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


def test_beat_adds_no_schedule_of_its_own():
    from django_celery_beat.schedulers import DatabaseScheduler

    from config.celery import app

    # What beat's scheduler adds when it starts (celery.backend_cleanup while results expire).
    added = {}
    scheduler = SimpleNamespace(app=app, update_from_dict=added.update)
    DatabaseScheduler.install_default_entries(scheduler, {})
    assert added == {}


def test_a_deploy_removes_the_result_cleanup_beat_added_before(db):
    every_day = CrontabSchedule.objects.create(minute="0", hour="4")
    PeriodicTask.objects.create(
        name="celery.backend_cleanup", task="celery.backend_cleanup", crontab=every_day
    )
    schedules_sync()
    assert set(PeriodicTask.objects.values_list("name", flat=True)) == MAINTENANCE


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


def _crontab(name: str) -> str:
    crontab = PeriodicTask.objects.get(name=name).crontab
    return " ".join(
        [
            crontab.minute,
            crontab.hour,
            crontab.day_of_month,
            crontab.month_of_year,
            crontab.day_of_week,
        ]
    )


def _set_crontab(name: str, minute: str) -> None:
    hourly, _ = CrontabSchedule.objects.get_or_create(minute=minute, hour="*", timezone="UTC")
    task = PeriodicTask.objects.get(name=name)
    task.crontab = hourly
    task.save()


def _migrated() -> None:
    """What `manage.py migrate` does to the schedules, at every start of a web container."""
    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")


def test_a_timing_changed_in_the_admin_outlasts_migrate(db):
    schedules_sync()
    _set_crontab("budget-alert-check", "0")
    _migrated()
    assert _crontab("budget-alert-check") == "0 * * * *"
    # The rest of the row is still the code's.
    PeriodicTask.objects.filter(name="budget-alert-check").update(queue="normal")
    _migrated()
    assert PeriodicTask.objects.get(name="budget-alert-check").queue == "system"
    assert _crontab("budget-alert-check") == "0 * * * *"


def test_a_timing_the_code_declares_anew_replaces_the_one_set_in_the_admin(db, settings):
    schedules_sync()
    every_ten_minutes, _ = IntervalSchedule.objects.get_or_create(every=600, period="seconds")
    PeriodicTask.objects.filter(name="jobs-sweep").update(interval=every_ten_minutes)
    settings.JOBS_SWEEP_INTERVAL_SECONDS = 30
    _migrated()
    assert PeriodicTask.objects.get(name="jobs-sweep").interval.every == 30


def test_sync_schedules_says_which_timings_it_kept_and_resets_them_when_asked(db):
    schedules_sync()
    _set_crontab("jobs-purge", "45")
    out = StringIO()
    call_command("sync_schedules", stdout=out)
    assert "  jobs-purge (keeps the timing set in the admin)\n" in out.getvalue()
    assert "  jobs-sweep\n" in out.getvalue()
    assert _crontab("jobs-purge") == "45 * * * *"

    out = StringIO()
    call_command("sync_schedules", "--reset-timing", stdout=out)
    assert "(keeps the timing set in the admin)" not in out.getvalue()
    assert _crontab("jobs-purge") == "17 * * * *"


@pytest.mark.django_db(transaction=True)
def test_beat_starts_from_the_schedules_the_settings_declare_now():
    from tests.worker import READY_TIMEOUT, running_beat, wait_for

    schedules_sync()
    assert PeriodicTask.objects.get(name="jobs-sweep").interval.every == 60
    env = {"JOBS_SWEEP_INTERVAL_SECONDS": "7", "TIME_ZONE": "Europe/Oslo"}

    def synced():
        sweep = PeriodicTask.objects.select_related("interval").get(name="jobs-sweep")
        cleanup = PeriodicTask.objects.select_related("crontab").get(name="share-link-cleanup")
        return sweep.interval.every == 7 and str(cleanup.crontab.timezone) == "Europe/Oslo"

    with running_beat(extra_env=env):
        # Beat syncs every schedule in turn as it starts.
        wait_for(
            synced,
            timeout=READY_TIMEOUT,
            message="the sweep every 7 s and the cleanup at 02:00 in Oslo",
        )
