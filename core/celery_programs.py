"""`celery worker` and `celery beat` as the product runs them: with LOG_FORMAT=json the start-up
banner each prints (its queues, tasks, broker, scheduler) is one log line, as every other line is."""

import logging

from celery import VERSION_BANNER, signals
from celery.apps.beat import Beat as CeleryBeat
from celery.apps.worker import Worker as CeleryWorker
from django.conf import settings

logger = logging.getLogger(__name__)


class Worker(CeleryWorker):
    def emit_banner(self):
        if settings.LOG_FORMAT != "json":
            super().emit_banner()
            return
        logger.info("%s%s", self.startup_info(artlines=False), self.extra_info() or "")


class Beat(CeleryBeat):
    def run(self):
        if settings.LOG_FORMAT != "json" or self.quiet:
            super().run()
            return
        # Beat prints its banner before it sets up logging: it is logged once beat starts instead.
        self.quiet = True
        signals.beat_init.connect(self._log_banner, weak=False)
        super().run()

    def _log_banner(self, sender, **kwargs):
        logger.info("celery beat v%s is starting.\n%s", VERSION_BANNER, self.startup_info(sender))
