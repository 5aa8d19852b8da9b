"""Database connection hygiene for tasks, as Django does it for requests: a connection is reused
until CONN_MAX_AGE, and one that broke (a database restart) is replaced before the next task."""

from celery.signals import task_postrun, task_prerun
from django.db import close_old_connections


@task_prerun.connect
def _connections_check_before_task(**kwargs):
    close_old_connections()


@task_postrun.connect
def _connections_check_after_task(**kwargs):
    close_old_connections()
