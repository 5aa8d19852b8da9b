from django.core.management.base import CommandError

from core.management.base import OperatorCommand, local_time
from jobs.management.jobcommands import jobs_selected, selection_arguments
from jobs.models import Job


class Command(OperatorCommand):
    help = (
        "List jobs, newest first, optionally only of one status, workspace, queue or type and "
        "older than some hours. --ids prints every selected id alone, one a line (streamed), for "
        "the commands that take them: `list_jobs --status failed --ids | xargs -r manage.py "
        "requeue_job` (-r: nothing is run when none is listed)."
    )

    def add_arguments(self, parser):
        selection_arguments(parser, statuses=Job.Status.values, status_required=False)
        parser.add_argument(
            "--limit",
            type=int,
            help="At most this many jobs (default: 100 listed, every id with --ids).",
        )
        parser.add_argument("--ids", action="store_true", help="Only the ids, one a line.")

    def handle(self, *args, limit, ids, **options):
        if limit is not None and limit < 1:
            raise CommandError("--limit must be at least 1.")
        jobs = jobs_selected(options).order_by("-created_at", "-pk")
        if ids:
            selected = jobs.values_list("pk", flat=True)
            for pk in (selected[:limit] if limit else selected).iterator(chunk_size=2000):
                self.stdout.write(str(pk))
            return
        listed = list(jobs.select_related("tenant")[: limit or 100])
        for job in listed:
            error = f" {job.error_code}" if job.error_code else ""
            self.stdout.write(
                f"{job.pk} {job.status:<10} {job.priority:<6} {job.type:<22} {job.tenant.slug:<16}"
                f" {local_time(job.created_at)} attempts {job.attempts}/{job.max_attempts}"
                f"{error}"
            )
        total = jobs.count()
        more = (
            f" (the newest {len(listed)} listed; --limit for more)" if total > len(listed) else ""
        )
        self.stdout.write(f"{total} jobs{more}.")
