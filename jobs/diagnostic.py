"""A job type for smoke-testing a deployment: steps with progress, failures on request."""

import time

from django.conf import settings
from rest_framework import serializers

from core.validation import KnownFieldsOnly
from jobs.errors import RetryableError
from jobs.registry import JobType


class DiagnosticPayload(KnownFieldsOnly, serializers.Serializer):
    steps = serializers.IntegerField(min_value=0, max_value=1000, default=5)
    step_seconds = serializers.FloatField(min_value=0, max_value=60, default=0.2)
    fail_attempts = serializers.IntegerField(min_value=0, max_value=100, default=0)


def diagnostic_handle(ctx) -> dict:
    steps, step_seconds = ctx.payload["steps"], ctx.payload["step_seconds"]
    for step in range(1, steps + 1):
        time.sleep(step_seconds)
        ctx.progress(step * 100 // steps, f"step {step} of {steps}")
        ctx.check_canceled()
    if ctx.attempt <= ctx.payload["fail_attempts"]:
        raise RetryableError("DIAGNOSTIC_FAILURE", f"Attempt {ctx.attempt} fails on request.")
    return {"steps": steps, "attempt": ctx.attempt}


DIAGNOSTIC = JobType(
    name="diagnostic",
    handler=diagnostic_handle,
    payload_serializer=DiagnosticPayload,
    enabled=lambda: settings.JOBS_ENABLE_DIAGNOSTICS,
)
