"""The test settings, plus the test-only job types, for worker processes that run them."""

from config.settings.test import *  # noqa: F403

CELERY_IMPORTS = ["tests.jobs.job_types"]
