"""Task hygiene, as Django does it for requests: database connections are reused until
CONN_MAX_AGE and a broken one (a database restart) is replaced before the next task; every log
line a task writes carries the task's name (and a job's task its job's id); a pool process sends
its last metrics before it exits."""

from celery.signals import task_postrun, task_prerun, worker_process_shutdown
from django.db import close_old_connections

from core.metrics import metrics_flush
from core.request_context import bind_log_context, unbind_log_context

_log_tokens = {}


@task_prerun.connect
def _before_task(task_id=None, task=None, kwargs=None, **extra):
    close_old_connections()
    context = {"task": task.name}
    # Celery's own lines about the task (its "succeeded" line) name the job too.
    if job_id := (kwargs or {}).get("job_id"):
        context["job_id"] = str(job_id)
    _log_tokens[task_id] = bind_log_context(**context)


@task_postrun.connect
def _after_task(task_id=None, **kwargs):
    token = _log_tokens.pop(task_id, None)
    if token is not None:
        unbind_log_context(token)
    close_old_connections()


@worker_process_shutdown.connect
def _before_pool_process_exit(**kwargs):
    metrics_flush()
