"""The job types, registered by the apps that own them.

An app registers its types in its AppConfig.ready():

    from jobs.registry import JobType, job_type_register
    job_type_register(JobType(name="invoice_pdf", handler=invoice_pdf_handle, ...))
"""

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.serializers.json import DjangoJSONEncoder
from rest_framework import serializers

from core.validation import data_validate
from jobs.models import Priority

DEFAULT_TIME_LIMIT = 600
# Seconds past the soft limit (the TIMEOUT a handler can clean up after) before the pool process
# running the attempt is killed.
HARD_LIMIT_MARGIN = 30


@dataclass(frozen=True)
class JobType:
    name: str
    # handler(ctx: JobContext) -> dict | None; the dict is the job's result.
    handler: Callable
    # Validates the submitted payload; its validated_data is what gets stored and handled.
    payload_serializer: type[serializers.Serializer] | None = None
    default_priority: str = Priority.NORMAL
    max_attempts: int = 3
    # Delays in seconds before attempt 2, 3, …; None: exponential backoff with jitter.
    retry_delays: tuple[int, ...] | None = None
    # Seconds an attempt may run (JOBS_TIME_LIMITS overrides): then it fails as a retryable TIMEOUT.
    time_limit: int = DEFAULT_TIME_LIMIT
    # At most this many jobs of the type processing at once, across every worker.
    max_concurrency: int | None = None
    # At most this many jobs of the type processing at once for one tenant
    # (JOBS_MAX_CONCURRENCY_PER_TENANT overrides).
    max_concurrency_per_tenant: int | None = None
    # Called inside the submit transaction, after the job row exists (e.g. to create a Story row).
    on_submit: Callable | None = None
    # Called when the job fails for good or is canceled, in the same transaction.
    on_give_up: Callable | None = None
    # Called when a failed or canceled job is requeued, in the same transaction (undoes on_give_up).
    on_requeue: Callable | None = None
    # view_url(job) -> str | None: a page that renders the job's artifact.
    view_url: Callable | None = None
    # present_result(job) -> dict: a completed job's result as the API shows it, for what is made
    # at each read (signed links: stored with the result, they would expire before the job goes).
    present_result: Callable | None = None
    # Whether the type accepts submissions (diagnostics are off in production by default).
    enabled: Callable[[], bool] = field(default=lambda: True)
    # Whether API clients may submit it through POST /jobs (generations have their own endpoint
    # but are the same jobs; system types such as invoice_pdf are submitted by the product itself).
    public: bool = True

    @property
    def seconds_allowed(self) -> int:
        return int(settings.JOBS_TIME_LIMITS.get(self.name, self.time_limit))

    @property
    def time_limits(self) -> tuple[int, int]:
        """(hard, soft) seconds for an attempt, as Celery takes them."""
        return self.seconds_allowed + HARD_LIMIT_MARGIN, self.seconds_allowed

    @property
    def concurrency_cap(self) -> int | None:
        """The cap across every worker: JOBS_MAX_CONCURRENCY overrides the type's own."""
        return settings.JOBS_MAX_CONCURRENCY.get(self.name, self.max_concurrency)

    @property
    def concurrency_cap_per_tenant(self) -> int | None:
        """The cap for one tenant: JOBS_MAX_CONCURRENCY_PER_TENANT overrides the type's own."""
        return settings.JOBS_MAX_CONCURRENCY_PER_TENANT.get(
            self.name, self.max_concurrency_per_tenant
        )

    @property
    def capped(self) -> bool:
        return self.concurrency_cap is not None or self.concurrency_cap_per_tenant is not None

    @property
    def credit_cost(self) -> int:
        """What a submission costs (JOB_CREDIT_COSTS). The product's own jobs are free: an
        invoice's PDF is rendered because the invoice changed, in the API, the admin or (after a
        change during a render) the worker, and most of them could not answer a 402."""
        if not self.public:
            return 0
        return int(settings.JOB_CREDIT_COSTS.get(self.name, 0))

    def validate(self, payload, *, tenant=None) -> dict:
        """The payload as stored, or DRF's ValidationError. Serializers that look up the tenant's
        own rows find it in their context."""
        if self.payload_serializer is None:
            validated = payload or {}
        else:
            validated = data_validate(self.payload_serializer, payload, context={"tenant": tenant})
        # JSON has no NaN or Infinity, and PostgreSQL refuses them in jsonb: a field that let one
        # through (DRF's FloatField takes "nan") is an invalid field, not a failed insert.
        errors = non_finite_numbers(validated)
        if errors:
            raise serializers.ValidationError(errors)
        # Stored as JSON: dates and decimals become strings here, not at save time, and -0.0 is
        # 0.0 here as in jsonb, so that the submit answers with the payload a poll shows.
        return json.loads(
            json.dumps(validated, cls=DjangoJSONEncoder), parse_float=lambda text: float(text) + 0.0
        )


def non_finite_numbers(value) -> dict:
    """Field errors for every NaN or infinite float inside an object or list, nested as DRF nests
    them: by key in objects, by index in lists."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return {}
    errors = {}
    for key, item in items:
        if isinstance(item, float) and not math.isfinite(item):
            errors[key] = ["A finite number is required."]
        elif nested := non_finite_numbers(item):
            errors[key] = nested
    return errors


_registry: dict[str, JobType] = {}
# What the jobs table stores (64 characters) and the per-type settings (JOB_CREDIT_COSTS=name=5) can
# name.
JOB_TYPE_NAME = re.compile(r"[\w.-]{1,64}", re.ASCII)


def job_type_register(job_type: JobType) -> JobType:
    """Make a type known to the engine, the API, the admin and the commands. Registering the same
    type again changes nothing; another type under a name already taken is refused, rather than
    replace it (a product type, or another app's) in whichever processes load it last."""
    if not JOB_TYPE_NAME.fullmatch(job_type.name):
        raise ImproperlyConfigured(
            f"Job type name {job_type.name!r}: use 1 to 64 ASCII letters, digits, '_', '.' or '-'."
        )
    registered = _registry.setdefault(job_type.name, job_type)
    if registered != job_type:
        raise ImproperlyConfigured(
            f"Job type {job_type.name!r} is already registered, handled by "
            f"{registered.handler.__module__}.{registered.handler.__qualname__}; "
            "give the new type another name."
        )
    return job_type


def job_type_get(name: str) -> JobType | None:
    return _registry.get(name)


def job_types() -> list[JobType]:
    return sorted(_registry.values(), key=lambda job_type: job_type.name)
