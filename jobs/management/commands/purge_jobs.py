from accounts.login_lockout import admin_login_records_purge
from core.idempotency import idempotency_records_purge
from core.management.base import OperatorCommand
from core.ratelimit import rate_limit_buckets_purge
from jobs.management.jobcommands import progress_printer
from jobs.runs import task_runs_purge
from jobs.services import jobs_expired, jobs_purge


class Command(OperatorCommand):
    help = (
        "Delete finished jobs past their retention (JOBS_RETENTION_COMPLETED_HOURS, "
        "JOBS_RETENTION_FAILED_DAYS), expired idempotency keys and old task runs "
        "(JOBS_RETENTION_TASK_RUNS_DAYS), admin logins past ADMIN_LOGIN_LOG_DAYS and failed-login "
        "counts whose time has passed, and the database's rate-limit counts (no REDIS_URL) whose "
        "windows have passed. Artifacts stay."
    )

    def handle(self, *args, **options):
        # Hundreds of thousands of jobs take minutes: a line every PROGRESS_EVERY says it works.
        counts = jobs_purge(
            progress=progress_printer(self.stdout, "expired jobs", jobs_expired().count())
        )
        keys = idempotency_records_purge()
        runs = task_runs_purge()
        logins = admin_login_records_purge()
        limits = rate_limit_buckets_purge()
        self.stdout.write(
            f"Purged {counts['deleted']} jobs, {keys} expired idempotency keys, {runs} old "
            f"task runs, {logins['admin_logins']} old admin logins, "
            f"{logins['admin_login_counts']} expired failed-login counts and {limits} expired "
            "rate-limit counts."
        )
