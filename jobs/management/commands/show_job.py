import json
import uuid

from django.core.management.base import CommandError

from core.management.base import OperatorCommand, json_dumped, printable
from jobs.models import Job

RESULT_CHARS = 500


class Command(OperatorCommand):
    help = (
        "Print one job as an operator needs it: workspace, status, attempts, clocks, error, result "
        "and its whole history with where each attempt ran and who asked for cancels and requeues; "
        "--json for scripts."
    )

    def add_arguments(self, parser):
        parser.add_argument("job_id")
        parser.add_argument("--json", action="store_true", help="One JSON document.")

    def handle(self, *args, job_id, **options):
        try:
            job = Job.objects.select_related("tenant", "api_key").get(pk=uuid.UUID(job_id))
        except (ValueError, Job.DoesNotExist) as exc:
            raise CommandError(f"{job_id}: no such job.") from exc
        events = list(job.events.all())
        if options["json"]:
            self.stdout.write(json_dumped(_as_dict(job, events)))
            return
        self._print(job, events)

    def _print(self, job: Job, events: list) -> None:
        def write(line: str) -> None:
            # One line each: what a workspace wrote in it (a key's name) cannot start another.
            self.stdout.write(printable(line))

        write(f"Job {job.pk} · {job.type} · workspace {job.tenant.slug} · queue {job.priority}")
        write(f"Status: {job.status}, attempt {job.attempts} of {job.max_attempts}")
        if job.status == Job.Status.PROCESSING:
            write(f"Progress: {job.progress}% {job.progress_message}".rstrip())
            write(f"Heartbeat: {job.heartbeat_at or 'none yet'}")
        if job.next_retry_at:
            write(f"Next attempt not before: {job.next_retry_at}")
        if job.cancel_requested and not job.is_finished:
            write("Cancel requested: the handler stops at its next check.")
        write(f"Created: {job.created_at}  started: {job.started_at}  finished: {job.finished_at}")
        submitter = job.api_key or job.submitted_by or "no key or user (the product, or submit_job)"
        write(f"Submitted by: {submitter}")
        write(f"Credits charged: {job.credits_charged}")
        if job.retry_of_id:
            write(f"Retry of: {job.retry_of_id}")
        if job.error_code:
            write(f"Error: {job.error_code}: {job.error_message}")
        if job.result is not None:
            result = json.dumps(job.result)
            if len(result) > RESULT_CHARS:
                result = f"{result[:RESULT_CHARS]}… ({len(result)} characters)"
            write(f"Result: {result}")
        write("History:" if events else "History: none yet.")
        for event in events:
            # Named once: a cancel's message already says who asked, when it was a key or a user.
            named = not event.actor or event.actor in event.message
            asked_by = "" if named else f" (asked by {event.actor})"
            write(
                f"  {event.created_at:%Y-%m-%d %H:%M:%S}  attempt {event.attempt}"
                f"  {event.kind:<9} {event.message}{asked_by}".rstrip()
            )


def _as_dict(job: Job, events: list) -> dict:
    fields = {field.attname: getattr(job, field.attname) for field in Job._meta.concrete_fields}
    return {
        **fields,
        "workspace": job.tenant.slug,
        "events": [
            {
                "created_at": event.created_at,
                "attempt": event.attempt,
                "kind": event.kind,
                "message": event.message,
                "actor": event.actor,
            }
            for event in events
        ],
    }
