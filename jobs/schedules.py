from django.conf import settings

from core.scheduling import Schedule
from jobs import monitoring


def schedules() -> list[Schedule]:
    return [
        Schedule(
            name="jobs-sweep",
            task="jobs.jobs_sweep",
            every_seconds=settings.JOBS_SWEEP_INTERVAL_SECONDS,
        ),
        Schedule(
            name="jobs-reap-stale",
            task="jobs.jobs_reap_stale",
            every_seconds=settings.JOBS_SWEEP_INTERVAL_SECONDS,
        ),
        Schedule(name="jobs-purge", task="jobs.jobs_purge", crontab="17 * * * *"),
        Schedule(
            name=monitoring.HEALTH_CHECK_SCHEDULE,
            task="jobs.ops_health_check",
            crontab="*/5 * * * *",
        ),
    ]
