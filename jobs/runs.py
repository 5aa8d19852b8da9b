import contextlib
import traceback

from django.utils import timezone

from jobs.models import TaskRun


@contextlib.contextmanager
def task_run(name: str):
    """Record one run of a scheduled task. The body sets `run.counts` (and may mark it skipped);
    an exception marks the run failed and propagates."""
    run = TaskRun.objects.create(name=name)
    try:
        yield run
    except BaseException as exc:
        run.outcome = TaskRun.Outcome.FAILED
        run.error = "".join(traceback.format_exception_only(exc)).strip()[:5000]
        raise
    else:
        if run.outcome == TaskRun.Outcome.RUNNING:
            run.outcome = TaskRun.Outcome.OK
    finally:
        run.finished_at = timezone.now()
        run.save(update_fields=["finished_at", "outcome", "counts", "error"])
