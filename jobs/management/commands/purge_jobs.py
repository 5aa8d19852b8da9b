from core.idempotency import idempotency_records_purge
from core.management.base import OperatorCommand
from jobs.services import jobs_purge


class Command(OperatorCommand):
    help = (
        "Delete finished jobs past their retention (JOBS_RETENTION_COMPLETED_HOURS, "
        "JOBS_RETENTION_FAILED_DAYS) and expired idempotency keys. Artifacts stay."
    )

    def handle(self, *args, **options):
        counts = jobs_purge()
        keys = idempotency_records_purge()
        self.stdout.write(f"Purged {counts['deleted']} jobs and {keys} expired idempotency keys.")
