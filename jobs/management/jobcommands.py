"""What the job commands share: finding jobs by id or by workspace, selecting them by status,
workspace, queue, type and age, reporting what a service refused, and
the progress of a long deletion."""

import uuid
from collections.abc import Callable
from datetime import timedelta

from django.core.management.base import CommandError, OutputWrapper
from django.utils import timezone

from accounts.management.workspaces import workspace_named
from accounts.services import operator_at_command_line
from core.errors import ApiError
from core.management.base import OperatorCommand, number_checked
from jobs.models import Job, Priority
from jobs.registry import job_type_get, job_types

# Who acts, in the jobs' event history, when an operator runs a command.
COMMAND_LINE = operator_at_command_line()

PROGRESS_EVERY = 10_000
MAX_HOURS = 24 * 365 * 100


def job_named(jobs, job_id: str) -> Job:
    """The job of `jobs` an operator names by its whole id (hyphenated or not, in any case), or
    CommandError saying why none; the start of an id is not taken for one."""
    try:
        pk = uuid.UUID(job_id)
    except ValueError:
        raise CommandError(
            f"{job_id} is not a job id: give it whole, as list_jobs prints it."
        ) from None
    try:
        return jobs.get(pk=pk)
    except Job.DoesNotExist:
        raise CommandError(f"{job_id}: no such job.") from None


def jobs_of_workspace(jobs, slug: str | None):
    """`jobs` of the workspace `slug` names, or all of them when none is named. A slug naming no
    workspace, an empty one included (an unset variable in a script), is an error, not every job."""
    if slug is None:
        return jobs
    return jobs.filter(tenant=workspace_named(slug))


def selection_arguments(parser, *, statuses: list[str], status_required: bool) -> None:
    parser.add_argument("--status", required=status_required, choices=statuses)
    parser.add_argument("--tenant", metavar="SLUG", help="Only this workspace's jobs.")
    parser.add_argument("--queue", choices=Priority.values, help="Only this queue's jobs.")
    parser.add_argument("--type", help="Only jobs of this type.")
    parser.add_argument(
        "--older-than-hours",
        type=float,
        default=0,
        metavar="HOURS",
        help="Only jobs created more than HOURS ago.",
    )


def jobs_selected(options: dict):
    """The jobs the options of selection_arguments name. A type no job has and the code does not
    know (a typo, most likely) is an error, not an empty selection."""
    hours = number_checked(options["older_than_hours"], 0, MAX_HOURS, "--older-than-hours", "hours")
    jobs = Job.objects.filter(created_at__lt=timezone.now() - timedelta(hours=hours))
    jobs = jobs_of_workspace(jobs, options["tenant"])
    if options["status"] is not None:
        jobs = jobs.filter(status=options["status"])
    if options["queue"] is not None:
        jobs = jobs.filter(priority=options["queue"])
    if (name := options["type"]) is not None:
        if job_type_get(name) is None and not Job.objects.filter(type=name).exists():
            known = ", ".join(job_type.name for job_type in job_types())
            raise CommandError(f"No job type {name!r}. Job types: {known}.")
        jobs = jobs.filter(type=name)
    return jobs


def progress_printer(
    stdout: OutputWrapper,
    what: str,
    total: int,
    *,
    verb: str = "deleted",
    every: int = PROGRESS_EVERY,
) -> Callable[[int], None]:
    """A `progress` for delete_in_batches, or any loop that counts what it has done: a line each
    time another `every` are done."""
    printed = 0

    def report(done: int) -> None:
        nonlocal printed
        if done - printed >= every and done < total:
            stdout.write(f"  {verb} {done} of {total} {what}…")
            printed = done

    return report


def job_action_command(help_text: str, act: Callable[[Job], str]) -> type[OperatorCommand]:
    """A command that applies `act` (a service call that says what became of the job) to each job
    named by id; a refusal is reported and the rest go on."""

    class Command(OperatorCommand):
        help = help_text

        def add_arguments(self, parser):
            parser.add_argument("job_ids", nargs="+", metavar="job_id")

        def handle(self, *args, job_ids, **options):
            refused = 0
            for job_id in job_ids:
                try:
                    job = job_named(Job.objects.select_related("tenant"), job_id)
                except CommandError as exc:
                    self.stderr.write(str(exc))
                    refused += 1
                    continue
                try:
                    self.stdout.write(f"{job_id}: {act(job)}")
                except ApiError as exc:
                    self.stderr.write(f"{job_id}: {exc.detail}")
                    refused += 1
            if refused:
                raise CommandError(f"{refused} of {len(job_ids)} jobs were not changed.")
            self.stdout.write(f"All {len(job_ids)} done.")

    return Command
