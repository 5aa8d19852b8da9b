import os

from celery import Celery, signals
from kombu.utils.objects import cached_property

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")


class OffloadCelery(Celery):
    """`celery worker` and `celery beat` whose start-up banner is a log line with LOG_FORMAT=json."""

    @cached_property
    def Worker(self):
        return self.subclass_with_self("core.celery_programs:Worker")

    @cached_property
    def Beat(self):
        return self.subclass_with_self("core.celery_programs:Beat")


app = OffloadCelery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def _logging_setup(loglevel=None, logfile=None, **kwargs):
    """Celery's worker and beat log through the product's handlers (LOG_FORMAT, LOG_LEVEL), their
    own lines and every task's alike, rather than through the handlers Celery would install; what
    a task prints still becomes a log line, as Celery does it. Their `-l` and `-f` still apply:
    `-l debug` shows the debug lines, `-f` writes the lines to that file instead of stderr."""
    from django.conf import settings
    from django.utils.log import configure_logging

    from core.logging import program_logging

    configure_logging(settings.LOGGING_CONFIG, program_logging(settings.LOGGING, loglevel, logfile))
    if app.conf.worker_redirect_stdouts:
        app.log.redirect_stdouts(app.conf.worker_redirect_stdouts_level)
