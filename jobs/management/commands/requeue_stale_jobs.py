from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from core.management.base import OperatorCommand, local_time
from jobs.models import Job
from jobs.services import jobs_reap_stale


class Command(OperatorCommand):
    help = (
        "Return processing jobs whose worker stopped sending heartbeats (older than "
        "JOBS_STALE_AFTER_SECONDS) to pending, fail them with WORKER_LOST on their last attempt, "
        "or cancel them when a cancel was asked for: all of them, in rounds of 500 (a scheduled "
        "run takes one round)."
    )

    def handle(self, *args, **options):
        counts = jobs_reap_stale(every_round=self._round_done)
        summary = (
            f"Requeued {counts['requeued']} stale jobs, failed {counts['failed']}, "
            f"canceled {counts['canceled']}."
        )
        if counts["left"]:
            summary += f" {counts['left']} are still stale: run it again."
        else:
            summary += _next_stale()
        self.stdout.write(summary)

    def _round_done(self, handled: int, left: int) -> None:
        self.stdout.write(f"  {handled} stale jobs handled, {left} left…")


def _next_stale() -> str:
    """When the reaper could take the processing job that beat longest ago: an operator who knows
    its worker died learns how long until then, rather than only that nothing was stale."""
    oldest = (
        Job.objects.filter(status=Job.Status.PROCESSING, heartbeat_at__isnull=False)
        .order_by("heartbeat_at")
        .values_list("heartbeat_at", flat=True)
        .first()
    )
    if oldest is None:
        return ""
    stale_after = settings.JOBS_STALE_AFTER_SECONDS
    age = round((timezone.now() - oldest).total_seconds())
    at = local_time(oldest + timedelta(seconds=stale_after), "%Y-%m-%d %H:%M:%S")
    return (
        f" No processing job is stale yet: the oldest heartbeat is {age} s old, and a job is taken "
        f"once its heartbeat is {stale_after} s old (JOBS_STALE_AFTER_SECONDS), at {at} for that one."
    )
