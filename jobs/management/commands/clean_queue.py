from core.deletion import delete_in_batches
from core.errors import ApiError
from core.management.base import OperatorCommand
from jobs.management.jobcommands import (
    COMMAND_LINE,
    jobs_selected,
    progress_printer,
    selection_arguments,
)
from jobs.models import Job
from jobs.services import job_cancel

CLEANABLE = [Job.Status.PENDING, Job.Status.COMPLETED, Job.Status.FAILED, Job.Status.CANCELED]
# Each cancel is a transaction of its own (a hundred or so a second): a line every thousand.
CANCEL_PROGRESS_EVERY = 1_000


class Command(OperatorCommand):
    help = (
        "Clean a queue: delete finished jobs (completed, failed, canceled) with their history, a "
        "thousand at a time, or cancel pending ones (credits refunded), optionally only of one "
        "workspace, queue or type and older than some hours."
    )

    def add_arguments(self, parser):
        selection_arguments(
            parser, statuses=[status.value for status in CLEANABLE], status_required=True
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only count what would be cleaned."
        )
        self.confirmation_argument(parser)

    def handle(self, *args, interactive, **options):
        jobs = jobs_selected(options)
        status = options["status"]
        where = f"of {options['tenant']}" if options["tenant"] else "of every workspace"
        verb = "cancel" if status == Job.Status.PENDING else "delete"
        if options["dry_run"]:
            self.stdout.write(f"Would {verb} {jobs.count()} {status} jobs {where}.")
            return
        # Nothing to clean is nothing to confirm.
        if interactive and (count := jobs.count()):
            self.confirm(
                f"{verb.capitalize()} {count} {status} jobs {where}?", refused="Nothing cleaned."
            )
        if status == Job.Status.PENDING:
            self._cancel(jobs)
        else:
            deleted = delete_in_batches(
                jobs, progress=progress_printer(self.stdout, f"{status} jobs", jobs.count())
            )
            self.stdout.write(f"Deleted {deleted} {status} jobs with their history.")

    def _cancel(self, jobs):
        canceled = stopping = ended = 0
        progress = progress_printer(
            self.stdout,
            "pending jobs",
            jobs.count(),
            verb="went through",
            every=CANCEL_PROGRESS_EVERY,
        )
        for done, job in enumerate(jobs.select_related("tenant").iterator(), start=1):
            try:
                job = job_cancel(job=job, actor=COMMAND_LINE)
            except ApiError:
                # Workers go on while the command runs: this one finished since the SELECT.
                ended += 1
            else:
                if job.is_finished:
                    canceled += 1
                else:
                    stopping += 1
            progress(done)
        summary = f"Canceled {canceled} pending jobs."
        if stopping:
            summary += f" {stopping} started meanwhile: asked to stop at their next check."
        if ended:
            summary += f" Skipped {ended} that finished meanwhile."
        self.stdout.write(summary)
