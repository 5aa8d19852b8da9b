"""Task names are part of the messages on the broker: a rename strands the messages in flight."""

from config.celery import app
from core.scheduling import schedules_declared

TASK_NAMES = [
    "budgets.budget_alert_check",
    "jobs.job_execute",
    "jobs.jobs_purge",
    "jobs.jobs_reap_stale",
    "jobs.jobs_sweep",
    "jobs.ops_health_check",
    "sharelinks.share_link_cleanup",
]


def test_the_registered_task_names_stay_what_queued_messages_expect():
    app.loader.import_default_modules()
    assert sorted(name for name in app.tasks if not name.startswith("celery.")) == TASK_NAMES


def test_every_schedule_runs_a_registered_task():
    app.loader.import_default_modules()
    for schedule in schedules_declared():
        assert schedule.task in app.tasks, schedule.name
