from django.conf import settings
from django.core.checks import Error, Warning, register

from jobs.registry import job_type_get, job_types
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


@register()
def credit_costs_price_only_chargeable_types(app_configs, **kwargs):
    """The product's own job types are never charged: a cost set for one is ignored."""
    free = [
        name
        for name in settings.JOB_CREDIT_COSTS
        if (job_type := job_type_get(name)) is not None and not job_type.public
    ]
    return [
        Warning(
            f"JOB_CREDIT_COSTS sets a cost for {name}, which the product submits itself and "
            "never charges.",
            id="jobs.W001",
        )
        for name in free
    ]


@register()
def per_type_settings_name_known_types(app_configs, **kwargs):
    """A misspelt job type in a per-type setting (`story_generaton=5`) would be ignored: its type
    would go free, uncapped or at its default time limit, with nothing said."""
    known = ", ".join(sorted(job_type.name for job_type in job_types()))
    return [
        Warning(
            f"{setting} names {name}, which is no job type; it is ignored.",
            hint=f"The job types are: {known}.",
            id="jobs.W002",
        )
        for setting in (
            "JOB_CREDIT_COSTS",
            "JOBS_MAX_CONCURRENCY",
            "JOBS_MAX_CONCURRENCY_PER_TENANT",
            "JOBS_TIME_LIMITS",
        )
        for name in getattr(settings, setting)
        if job_type_get(name) is None
    ]
