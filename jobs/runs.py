import contextlib
import traceback
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from core.deletion import delete_in_batches
from core.locks import named_lock
from jobs.models import TaskRun

LOST_RUN_ERROR = (
    "Lost: the process running it stopped before it finished (killed, or its host went down)."
)


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


def task_runs_purge() -> int:
    """Delete the runs older than JOBS_RETENTION_TASK_RUNS_DAYS, but never a task's last run, the
    last that was not skipped, nor its last successful one: a schedule paused or failing for
    longer still shows when it last ran and last succeeded (the dashboard, /metrics, the health
    check). Task by task, each through
    the (name, started_at) index."""
    before = timezone.now() - timedelta(days=settings.JOBS_RETENTION_TASK_RUNS_DAYS)
    deleted = 0
    for name in TaskRun.objects.order_by().values_list("name", flat=True).distinct():
        runs = (
            TaskRun.objects.filter(name=name).order_by("-started_at").values_list("pk", flat=True)
        )
        kept = [
            pk
            for pk in (
                runs.first(),
                # The one the dashboard shows: not another beat's skip.
                runs.exclude(outcome=TaskRun.Outcome.SKIPPED).first(),
                runs.filter(outcome=TaskRun.Outcome.OK).first(),
            )
            if pk is not None
        ]
        old = TaskRun.objects.filter(name=name, started_at__lt=before).exclude(pk__in=kept)
        deleted += delete_in_batches(old.order_by())
    return deleted


def scheduled_run(name: str, work, *, lock_ttl: int) -> dict:
    """Run a scheduled system task once at a time (even with two beats) and record the run:
    `work()` returns the counts; a run that finds the lock taken is recorded as skipped, and one
    that cannot take it (Redis out of reach) as failed."""
    with task_run(name) as run, named_lock(name, ttl=lock_ttl) as acquired:
        if not acquired:
            run.outcome = TaskRun.Outcome.SKIPPED
            return {}
        _lost_runs_close(name, before=run.started_at)
        run.counts = work()
        return run.counts


def _lost_runs_close(name: str, *, before) -> int:
    """With the task's lock held no other run of it is in progress: an earlier run still marked
    running lost its process (killed, or its machine gone) and is recorded as failed. Its end is
    unknown and stays empty. Should it still be running after all (past its lock's TTL), its own
    end overwrites this."""
    return TaskRun.objects.filter(
        name=name, outcome=TaskRun.Outcome.RUNNING, started_at__lt=before
    ).update(outcome=TaskRun.Outcome.FAILED, error=LOST_RUN_ERROR)
