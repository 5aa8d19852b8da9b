from django.core.management.base import BaseCommand

from jobs.services import jobs_reap_stale


class Command(BaseCommand):
    help = (
        "Return processing jobs whose worker stopped sending heartbeats (older than "
        "JOBS_STALE_AFTER_SECONDS) to pending, fail them with WORKER_LOST on their last attempt, "
        "or cancel them when a cancel was asked for."
    )

    def handle(self, *args, **options):
        counts = jobs_reap_stale()
        self.stdout.write(
            f"Requeued {counts['requeued']} stale jobs, failed {counts['failed']}, "
            f"canceled {counts['canceled']}."
        )
