"""The test settings, for worker processes that log as production does: JSON lines, each with the
tenant of the work in hand (LOG_FORMAT=json)."""

from config.settings.test import *  # noqa: F403

LOG_FORMAT = "json"
LOGGING["handlers"]["console"]["formatter"] = "json"  # noqa: F405
