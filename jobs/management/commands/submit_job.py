import json
import time

from django.core.management.base import CommandError

from accounts.management.workspaces import workspace_named
from core.errors import ApiError
from core.management.base import OperatorCommand, number_checked
from jobs.models import Job, Priority
from jobs.registry import job_type_get, job_types
from jobs.services import job_submit

POLL_SECONDS = 0.5
MAX_WAIT_SECONDS = 24 * 3600


def _json_object(text: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"--payload is not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise CommandError("--payload must be a JSON object.")
    return value


class Command(OperatorCommand):
    help = (
        "Submit a job for a workspace as the API does (validation, credits; no rate limits) and, "
        "with --wait, follow it to the end: `submit_job demo diagnostic --wait` smoke-tests a "
        "deployment's workers, broker and database."
    )

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="The workspace's slug.")
        parser.add_argument("type", help="A job type, e.g. diagnostic or deck_generation.")
        parser.add_argument("--payload", default="{}", help="The payload, a JSON object.")
        parser.add_argument("--priority", choices=Priority.values)
        parser.add_argument(
            "--wait",
            type=float,
            nargs="?",
            const=300,
            metavar="SECONDS",
            help="Print the job's progress until it finishes (at most SECONDS, 300 if not given); "
            "exit with an error unless it completes.",
        )

    def handle(self, *args, tenant, type, payload, priority, wait, **options):
        if wait is not None:
            number_checked(wait, 1, MAX_WAIT_SECONDS, "--wait", "seconds")
        workspace = workspace_named(tenant, active=True)
        job_type = job_type_get(type)
        if job_type is not None and not job_type.public:
            # As the API: the product submits these itself (invoice PDFs, as invoices change).
            raise CommandError(f"Unknown job type {type!r}. Job types: {self._public_types()}.")
        try:
            job = job_submit(
                tenant=workspace, type=type, payload=_json_object(payload), priority=priority
            )
        except ApiError as exc:
            errors = f" {json.dumps(exc.errors)}" if exc.errors else ""
            if "type" in (exc.errors or {}):
                errors += f" Job types: {self._public_types()}."
            raise CommandError(f"{exc.detail}{errors}") from exc
        self.stdout.write(f"Submitted {job.type} job {job.pk} to the {job.priority} queue.")
        if wait is None:
            return
        try:
            self._follow(job, wait)
        except KeyboardInterrupt:
            raise CommandError(
                f"Stopped waiting; job {job.pk} goes on (`manage.py show_job {job.pk}`)."
            ) from None

    @staticmethod
    def _public_types() -> str:
        return ", ".join(t.name for t in job_types() if t.enabled() and t.public)

    def _follow(self, job: Job, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        shown = None
        while True:
            job.refresh_from_db()
            line = (
                f"  {job.status}, attempt {job.attempts}/{job.max_attempts}, {job.progress}%"
                f"{f': {job.progress_message}' if job.progress_message else ''}"
            )
            if job.error_code and not job.is_finished:
                line += f" (last error {job.error_code}: {job.error_message})"
            if line != shown:
                shown = line
                self.stdout.write(line)
            if job.is_finished:
                break
            if time.monotonic() >= deadline:
                raise CommandError(self._still_unfinished(job, seconds))
            time.sleep(POLL_SECONDS)
        if job.status != Job.Status.COMPLETED:
            raise CommandError(f"Job {job.pk} {job.status}: {job.error_code} {job.error_message}")
        self.stdout.write(f"Completed: {json.dumps(job.result)}")

    @staticmethod
    def _still_unfinished(job: Job, seconds: float) -> str:
        """Why a job has not finished after the wait, as far as its row says."""
        after = f"after {seconds:g} s"
        if job.status == Job.Status.PROCESSING:
            return (
                f"Job {job.pk} is still processing {after}; it goes on (`manage.py show_job "
                f"{job.pk}` follows it, `manage.py cancel_job {job.pk}` stops it)."
            )
        if job.waiting_since is not None:
            return (
                f"Job {job.pk} is still waiting for a free slot {after}: its type or workspace is "
                f"at its concurrency cap, and it starts in turn (`manage.py show_job {job.pk}`)."
            )
        return (
            f"Job {job.pk} is still pending {after}: is a worker running on its queue "
            "(`manage.py queue_stats`)?"
        )
