from django.conf import settings
from django.core.checks import Error, register

from jobs.registry import job_types
from jobs.services import BACKOFF_CAP_SECONDS


@register()
def visibility_timeout_covers_every_delay(app_configs, **kwargs):
    """With Redis as the broker, a message published with a countdown longer than the visibility
    timeout is delivered twice. Every retry delay and time limit must fit inside it."""
    if not settings.CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
        return []
    timeout = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("visibility_timeout", 3600)
    longest = max(
        [BACKOFF_CAP_SECONDS * 1.2]
        + [
            max(job_type.retry_delays or (0,)) + job_type.seconds_allowed
            for job_type in job_types()
        ]
    )
    if longest < timeout:
        return []
    return [
        Error(
            f"CELERY_VISIBILITY_TIMEOUT ({timeout}s) must exceed the longest retry delay plus "
            f"time limit of any job type ({longest:.0f}s), or Redis will deliver messages twice.",
            id="jobs.E001",
        )
    ]
