import json
from collections.abc import Iterable

from django.core.management.base import CommandError
from django.db.models import Q

from core.management.base import OperatorCommand, json_dumped, local_time, printable
from jobs.management.jobcommands import job_named
from jobs.models import Job, JobEvent

RESULT_CHARS = 500
# A job waiting for capacity writes an event a wait: tens of thousands are no rarity.
EVENTS_SHOWN = 50
EVENTS_CHUNK = 2_000
SECONDS = "%Y-%m-%d %H:%M:%S"


class Command(OperatorCommand):
    help = (
        "Print one job as an operator needs it: workspace, status, attempts, clocks, error, result "
        f"and the last {EVENTS_SHOWN} events of its history (--events N or all) with where each "
        "attempt ran and who asked for cancels and requeues; --json for scripts."
    )

    def add_arguments(self, parser):
        parser.add_argument("job_id")
        parser.add_argument(
            "--events",
            default=str(EVENTS_SHOWN),
            metavar="N|all",
            help=f"The last N events of its history (default {EVENTS_SHOWN}), or all of them, "
            "streamed.",
        )
        parser.add_argument("--json", action="store_true", help="One JSON document.")

    def handle(self, *args, job_id, events, **options):
        limit = _events_limit(events)
        job = job_named(Job.objects.select_related("tenant", "api_key"), job_id)
        history, left_out = _history(job, limit)
        if options["json"]:
            self._write_json(job, history, left_out)
            return
        self._print(job, history, left_out)

    def _write_json(self, job: Job, events: Iterable[JobEvent], left_out: int) -> None:
        """The document, its events written as they are read rather than held all at once."""
        head = json_dumped({**_job_as_dict(job), "events_left_out": left_out})
        self.stdout.write(f'{head[:-1]}, "events": [', ending="")
        for position, event in enumerate(events):
            self.stdout.write(
                ("," if position else "") + json_dumped(_event_as_dict(event)), ending=""
            )
        self.stdout.write("]}")

    def _print(self, job: Job, events: Iterable[JobEvent], left_out: int) -> None:
        def write(line: str) -> None:
            # One line each: what a workspace wrote in it (a key's name) cannot start another.
            self.stdout.write(printable(line))

        write(f"Job {job.pk} · {job.type} · workspace {job.tenant.slug} · queue {job.priority}")
        write(f"Status: {job.status}, attempt {job.attempts} of {job.max_attempts}")
        if job.status == Job.Status.PROCESSING:
            write(f"Progress: {job.progress}% {job.progress_message}".rstrip())
            write(f"Heartbeat: {_when(job.heartbeat_at, 'none yet')}")
        if job.next_retry_at:
            write(f"Next attempt not before: {local_time(job.next_retry_at, SECONDS)}")
        if job.cancel_requested and not job.is_finished:
            write("Cancel requested: the handler stops at its next check.")
        write(
            f"Created: {local_time(job.created_at, SECONDS)}"
            f"  started: {_when(job.started_at, 'not yet')}"
            f"  finished: {_when(job.finished_at, 'not yet')}"
        )
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
        if left_out:
            write(
                f"History, its last {len(events)} events ({left_out} earlier ones left out: "
                "--events all shows every one):"
            )
        else:
            write("History:" if job.events.exists() else "History: none yet.")
        for event in events:
            # Named once: a cancel's message already says who asked, when it was a key or a user.
            named = not event.actor or event.actor in event.message
            asked_by = "" if named else f" (asked by {event.actor})"
            write(
                f"  {local_time(event.created_at, SECONDS)}  attempt {event.attempt}"
                f"  {event.kind:<9} {event.message}{asked_by}".rstrip()
            )


def _when(value, unset: str) -> str:
    return local_time(value, SECONDS) if value else unset


def _events_limit(value: str) -> int | None:
    """How many of the last events --events asks for; None for all of them."""
    if value == "all":
        return None
    if not value.isdigit():
        raise CommandError(f"--events {value}: give a number of events (0 or more) or 'all'.")
    return int(value)


def _history(job: Job, limit: int | None) -> tuple[Iterable[JobEvent], int]:
    """The job's events, oldest first, and how many earlier ones were left out: every one
    streamed, or the last `limit` of them."""
    events = job.events.order_by("created_at", "id")
    if limit is None:
        return events.iterator(chunk_size=EVENTS_CHUNK), 0
    last = list(events.reverse()[:limit])[::-1]
    if not last:
        return last, job.events.count()
    # Counted before the first one shown, not as all less those shown: a waiting job's worker
    # may add events meanwhile.
    first = last[0]
    earlier = Q(created_at__lt=first.created_at) | Q(created_at=first.created_at, id__lt=first.id)
    return last, job.events.filter(earlier).count()


def _job_as_dict(job: Job) -> dict:
    fields = {field.attname: getattr(job, field.attname) for field in Job._meta.concrete_fields}
    return {**fields, "workspace": job.tenant.slug}


def _event_as_dict(event: JobEvent) -> dict:
    return {
        "created_at": event.created_at,
        "attempt": event.attempt,
        "kind": event.kind,
        "message": event.message,
        "actor": event.actor,
    }
