"""Submitting jobs from API requests: the limits, the 202 answer and its polling hints."""

from django.conf import settings
from django.utils import timezone

from accounts.authentication import Principal
from core.errors import Conflict
from core.idempotency import HEADER, idempotency_key_parse
from core.ratelimit import Limit
from core.throttling import rate_limit_headers_attach
from jobs.models import Job
from jobs.registry import job_type_get
from jobs.services import job_retry, job_submit


def submission_limits(principal: Principal, job_type: str) -> list[Limit]:
    """Per API key (or staff user): a minute and a day window, and an hour window per job type."""
    api_key = principal.api_key
    # A key's own limit, 0 included (staff stopping one key's submissions, as set in the admin).
    per_minute = getattr(api_key, "rate_limit_per_minute", None)
    if per_minute is None:
        per_minute = settings.RATE_LIMIT_PER_MINUTE
    per_day = getattr(api_key, "rate_limit_per_day", None)
    if per_day is None:
        per_day = settings.RATE_LIMIT_PER_DAY
    who = principal.pk
    return [
        Limit("minute", f"submit:minute:{who}", per_minute, 60, counts="job submissions"),
        Limit("day", f"submit:day:{who}", per_day, 86400, counts="job submissions"),
        Limit(
            "type-hour",
            f"submit:type:{who}:{job_type}",
            settings.RATE_LIMIT_PER_HOUR_PER_TYPE,
            3600,
            counts=f"{job_type} submissions",
        ),
    ]


def _caller(request) -> dict:
    principal = request.user
    return {
        "api_key": principal.api_key,
        "user": principal.user,
        "idempotency_key": idempotency_key_parse(request.headers.get(HEADER)) or "",
    }


def job_submit_for_request(
    request, *, type: str, payload: dict, priority: str | None, **options
) -> Job:
    principal = request.user
    job = job_submit(
        tenant=principal.tenant,
        type=type,
        payload=payload,
        priority=priority,
        limits=submission_limits(principal, type),
        count_ahead=True,
        **_caller(request),
        **options,
    )
    rate_limit_headers_attach(request, job.rate_limit_decision)
    return job


def job_retry_for_request(request, *, job: Job, priority: str | None = None) -> Job:
    job_type = job_type_get(job.type)
    if job_type is not None and not job_type.public:
        # The product submits these itself (an invoice's PDF): API clients may not submit them,
        # so they may not resubmit them either. Operators retry them in the admin or with
        # `manage.py retry_job`.
        raise Conflict(
            f"{job.type} jobs are submitted by the product itself and are not retried through the"
            " API."
        )
    retried = job_retry(
        job=job,
        priority=priority,
        limits=submission_limits(request.user, job.type),
        **_caller(request),
    )
    rate_limit_headers_attach(request, retried.rate_limit_decision)
    return retried


def poll_after_seconds(job: Job) -> int:
    """How long a client should wait before polling again: 3 s, slower as the job ages."""
    age = (timezone.now() - job.created_at).total_seconds()
    if age < 60:
        return 3
    if age < 600:
        return 10
    return 30
