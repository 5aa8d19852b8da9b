"""What a handler gets: its job's payload, and ways to report progress and notice a cancel."""

import time

from django.utils import timezone

from jobs.errors import JobCanceled, JobLost
from jobs.models import Job
from jobs.rows import job_attempt_row, job_update_if_owned

PROGRESS_MIN_INTERVAL = 1.0


class JobContext:
    def __init__(self, job: Job):
        self.job = job
        self.attempt = job.attempts
        self._last_write = 0.0
        self._pending_progress: tuple[int, str] | None = None
        self._reported: tuple[int, str] = (0, "")
        self.completed = False

    @property
    def payload(self) -> dict:
        return self.job.payload

    @property
    def tenant(self):
        return self.job.tenant

    def _owned(self):
        """This attempt's row: a reaped or canceled job no longer matches."""
        return job_attempt_row(self.job, self.attempt)

    def progress(self, percent: int, message: str = "") -> None:
        """Report progress 0–100. Written at most once a second; the last value is always written."""
        self._pending_progress = self._reported = (max(0, min(100, int(percent))), message[:255])
        if time.monotonic() - self._last_write >= PROGRESS_MIN_INTERVAL:
            self._write()

    def heartbeat(self) -> None:
        """Tell the reaper this job is alive during long work that reports no progress."""
        if time.monotonic() - self._last_write >= PROGRESS_MIN_INTERVAL:
            self._write()

    def check_canceled(self) -> None:
        """Raise JobCanceled if a cancel was requested; also a heartbeat."""
        self.heartbeat()
        if self.job.cancel_requested:
            raise JobCanceled()

    def flush(self) -> None:
        if self._pending_progress is not None:
            self._write()

    def flush_if_owned(self) -> None:
        """Write the last reported progress while the attempt still owns the job, raising
        nothing: an attempt that ends in an error keeps how far it got."""
        if self._pending_progress is not None:
            progress, message = self._pending_progress
            self._pending_progress = None
            job_update_if_owned(self.job, self.attempt, progress=progress, progress_message=message)

    def complete(self, result: dict | None) -> dict | None:
        """Mark the job completed. Call it inside the transaction that writes the job's artifacts,
        so that they and the completion commit together; raises JobLost (rolling them back) when
        this worker no longer owns the job."""
        fields = {"status": Job.Status.COMPLETED, "result": result, "finished_at": timezone.now()}
        fields["heartbeat_at"] = fields["finished_at"]
        fields["progress"] = 100
        # An earlier attempt's error no longer describes a job that completed.
        fields["error_code"] = fields["error_message"] = ""
        # A step's message ("saving the deck") no longer describes a finished job; one reported at
        # 100% describes the outcome ("3 of 5 cards: the text holds no more") and stays.
        percent, message = self._reported
        fields["progress_message"] = message if percent == 100 else ""
        if not job_update_if_owned(self.job, self.attempt, **fields):
            raise JobLost()
        self.completed = True
        return result

    def _write(self) -> None:
        fields = {"heartbeat_at": timezone.now()}
        if self._pending_progress is not None:
            fields["progress"], fields["progress_message"] = self._pending_progress
        self._last_write = time.monotonic()
        self._pending_progress = None
        # One query in the usual case; only when it matches nothing do we ask why.
        if job_update_if_owned(self.job, self.attempt, **fields):
            return
        if not self._owned().exists():
            raise JobLost()
        self.job.cancel_requested = True
