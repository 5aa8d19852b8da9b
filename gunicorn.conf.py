"""Gunicorn reads this file from the working directory: its access log leaves out secret links and
ends each line with the web process's id and the request's id (its X-Request-Id), as every other
log line names them; with LOG_FORMAT=json its access and error lines are JSON objects, as every
other line is."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

from core.access_log import GunicornLogger  # noqa: E402

logger_class = GunicornLogger
# A batch look-up names up to 100 job ids in its URL, with a cursor: twice gunicorn's default room.
limit_request_line = 8190
access_log_format = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" pid=%(pid)s'
    " request_id=%({x-request-id}o)s"
)
