"""The OpenAPI schema documents every operation's problem responses, not only its success."""

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse
from rest_framework import serializers

from core.errors import (
    PROBLEM_CONTENT_TYPE,
    Conflict,
    Forbidden,
    IdempotencyMismatch,
    InsufficientCredits,
    InvalidRequest,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    str,
    OpenApiParameter.HEADER,
    description="1–255 printable characters: the same request sent again with the same key is "
    "answered with the first response (Idempotent-Replayed: true), kept 24 hours.",
)

# Operations that submit a job, and so may be refused for want of credits.
SUBMITTING_PATHS = ("/api/v1/jobs", "/api/v1/generations", "/api/v1/jobs/{id}/retry")


class ProblemSerializer(serializers.Serializer):
    type = serializers.URLField()
    title = serializers.CharField()
    status = serializers.IntegerField()
    detail = serializers.CharField()
    code = serializers.CharField(help_text="A stable code: INVALID_REQUEST, NOT_FOUND, …")
    request_id = serializers.CharField(help_text="Finds the request in the logs.")
    errors = serializers.JSONField(
        required=False, help_text="The invalid fields and what is wrong with each (400 only)."
    )


class AutoSchema(openapi.AutoSchema):
    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        described: dict[str, list[str]] = {}
        for error, description in self._problems():
            described.setdefault(str(error.status_code), []).append(f"{error.code}: {description}")
        for code, descriptions in described.items():
            if code not in responses:
                problem = OpenApiResponse(ProblemSerializer, description="; ".join(descriptions))
                responses[code] = self._get_response_for_code(
                    problem, code, media_types=[PROBLEM_CONTENT_TYPE]
                )
        return responses

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self._is_idempotent():
            parameters = [*parameters, IDEMPOTENCY_KEY]
        return parameters

    def _is_idempotent(self) -> bool:
        name = getattr(self.view, "action", None) or self.method.lower()
        return getattr(getattr(self.view, name, None), "idempotent", False)

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = super()._get_response_headers_for_code(status_code, direction)
        if status_code in ("429", "503"):
            headers["Retry-After"] = {
                "schema": {"type": "integer"},
                "description": "Seconds to wait before trying again.",
            }
        return headers

    def _problems(self):
        yield InvalidRequest, "invalid fields, parameters or headers"
        yield Unauthorized, "a missing, wrong, expired or revoked API key"
        yield Forbidden, "the key's role may not do this"
        if "{" in self.path:
            yield NotFound, "no such object in your workspace"
        if self.method in ("POST", "PUT", "PATCH"):
            yield PayloadTooLarge, "a body over DATA_UPLOAD_MAX_MEMORY_SIZE"
        if self.method in ("POST", "PUT", "PATCH", "DELETE") and self.path != "/api/v1/jobs":
            yield Conflict, "the object's state forbids it"
        if self.method == "POST" and self.path in SUBMITTING_PATHS:
            yield InsufficientCredits, "the workspace's balance is too low"
        if self._is_idempotent():
            yield Conflict, "the same Idempotency-Key is still in flight"
            yield IdempotencyMismatch, "an Idempotency-Key reused with a different request"
        yield RateLimited, "a rate limit is exhausted"
        yield ServiceUnavailable, "the database or Redis is out of reach"
