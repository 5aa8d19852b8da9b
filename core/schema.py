"""The OpenAPI schema documents every operation's answers as they are sent: its problem responses
as well as its success, and the headers a client relies on (rate limits, polling, idempotency)."""

import inspect

from drf_spectacular import openapi
from drf_spectacular.extensions import OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import force_instance, get_doc
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer
from rest_framework import serializers

from core.errors import (
    PROBLEM_CONTENT_TYPE,
    Conflict,
    Forbidden,
    IdempotencyMismatch,
    InsufficientCredits,
    InvalidRequest,
    NotAcceptable,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
)
from core.validation import KnownFieldsOnly

IDEMPOTENCY_KEY = OpenApiParameter(
    "Idempotency-Key",
    # What core.idempotency accepts (surrounding quotes aside): printable ASCII, not blank.
    {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": '^(?!""$)[ -~]*[!-~][ -~]*$',
    },
    OpenApiParameter.HEADER,
    description="1–255 printable characters: the same request sent again with the same key is "
    "answered with the first response (Idempotent-Replayed: true), kept 24 hours.",
)

IF_NONE_MATCH = OpenApiParameter(
    "If-None-Match",
    str,
    OpenApiParameter.HEADER,
    description="The ETag of the representation you hold: while it is current the answer is 304, "
    "with no body.",
)

# Jobs a client polls until they finish.
POLLED_PATHS = ("/api/v1/jobs/{id}", "/api/v1/generations/{id}")
# Reads that answer 304 to If-None-Match while nothing changed: the jobs, and the objects a client
# waits on (an invoice's PDF, a story generating).
CONDITIONAL_PATHS = (*POLLED_PATHS, "/api/v1/invoices/{id}", "/api/v1/stories/{id}")
# Creates whose body names an object of the workspace, and so may not find it.
NAMING_CREATES = {"/api/v1/share-links": "no resource of that type and id in your workspace"}
# Reads and writes are counted against their limit after content negotiation, authentication and
# permissions: these refusals come before it and carry no rate-limit headers.
UNCOUNTED_STATUSES = ("401", "403", "406", "503")
# Counted too, except when refused before the view: a NUL in the query string (400), a path that
# is no route, such as an id that is not one (404). Those carry no rate-limit headers.
SOMETIMES_UNCOUNTED_STATUSES = ("400", "404")


def _header(description: str, *, type: str = "string", required: bool = True) -> dict:
    return {"schema": {"type": type}, "description": description, "required": required}


def rate_limit_headers(*, required: bool) -> dict[str, dict]:
    return {
        "RateLimit": _header(
            '`"<limit>";r=<requests left>;t=<seconds until one frees>` for the tightest limit the '
            "request was counted against (IETF draft).",
            required=required,
        ),
        "RateLimit-Policy": _header(
            'Every limit the request was counted against: `"<limit>";q=<quota>;w=<window '
            "seconds>`, comma-separated.",
            required=required,
        ),
        "X-RateLimit-Limit": _header(
            "The tightest limit's quota.", type="integer", required=required
        ),
        "X-RateLimit-Remaining": _header(
            "Requests the tightest limit has left.", type="integer", required=required
        ),
        "X-RateLimit-Reset": _header(
            "When the tightest limit frees a request, in epoch seconds.",
            type="integer",
            required=required,
        ),
    }


ETAG = _header("The representation's entity tag: send it as If-None-Match to poll for changes.")
POLL_AGAIN = _header(
    "While the job is unfinished: seconds to wait before polling again.",
    type="integer",
    required=False,
)
SUBMITTED_HEADERS = {
    "Location": _header("The job to poll."),
    "ETag": ETAG,
    "Retry-After": _header("Seconds to wait before the first poll.", type="integer"),
}
CREATED_LOCATION = _header("The created object's address in the API (a path), to read it back.")
REPLAYED = {
    **_header(
        "`true` when this is the first response to the same Idempotency-Key again.",
        required=False,
    ),
    "schema": {"type": "string", "enum": ["true"]},
}
RETRY_AFTER = _header("Seconds to wait before trying again.", type="integer")


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


def decimal_pattern(field: serializers.DecimalField) -> str:
    """A decimal sent as a string, as the field reads it: at least one digit (drf-spectacular's
    own pattern also matches "" and "-"), and a sign only where the field takes a negative value."""
    sign = "" if field.min_value is not None and field.min_value >= 0 else "-?"
    whole, places = field.max_whole_digits, field.decimal_places
    if not places:
        return rf"^{sign}\d{{1,{whole}}}\.?$"
    return rf"^{sign}(?:\d{{1,{whole}}}(?:\.\d{{0,{places}}})?|\.\d{{1,{places}}})$"


class AutoSchema(openapi.AutoSchema):
    def get_description(self):
        """The action's docstring, else the view's own: a mixin's docstring says how the code
        works (tenant scoping, auditing), not what the operation does for a client."""
        action = getattr(self.view, getattr(self.view, "action", self.method.lower()), None)
        view_doc = self.view.__class__.__dict__.get("__doc__")
        return get_doc(action) or (inspect.cleandoc(view_doc) if view_doc else "")

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        if self.method == "DELETE" and "204" in responses:
            # drf-spectacular writes a deletion's 204 by hand, without its headers.
            responses["204"] = self._get_response_for_code(None, "204")
        if self._is_conditional():
            unchanged = OpenApiResponse(
                description="The representation named in If-None-Match is current: no body."
            )
            responses["304"] = self._get_response_for_code(unchanged, "304")
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

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        decimal = isinstance(field, serializers.DecimalField) and field.max_whole_digits
        # A field's extension starts from this mapping, pattern included, and may change it.
        extended = not bypass_extensions and OpenApiSerializerFieldExtension.get_match(field)
        if decimal and not extended and "pattern" in (schema or {}):
            schema["pattern"] = decimal_pattern(field)
        return schema

    def _map_basic_serializer(self, serializer, direction):
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and isinstance(force_instance(serializer), KnownFieldsOnly):
            # A field the body does not take is refused ("Unknown field."), never ignored.
            schema["additionalProperties"] = False
        return schema

    def _get_request_for_media_type(self, serializer, direction="request"):
        schema, required = super()._get_request_for_media_type(serializer, direction)
        if isinstance(serializer, PolymorphicProxySerializer):
            # Each variant names what it is (a generation's `kind`): no body is no request.
            # drf-spectacular finds no `required` beside a oneOf and leaves the body optional.
            required = True
        return schema, required

    def get_override_parameters(self):
        parameters = super().get_override_parameters()
        if self._is_idempotent():
            parameters = [*parameters, IDEMPOTENCY_KEY]
        if self._is_conditional():
            parameters = [*parameters, IF_NONE_MATCH]
        return parameters

    def _is_idempotent(self) -> bool:
        name = getattr(self.view, "action", None) or self.method.lower()
        return getattr(getattr(self.view, name, None), "idempotent", False)

    def _is_polled(self) -> bool:
        return self.method == "GET" and self.path in POLLED_PATHS

    def _is_conditional(self) -> bool:
        return self.method == "GET" and self.path in CONDITIONAL_PATHS

    def _submits(self) -> bool:
        """Submits a job: counted against the submission limits, and may be refused for want of
        credits."""
        return self.method == "POST" and getattr(self.view, "submits_jobs", False)

    def _get_response_headers_for_code(self, status_code, direction="response"):
        headers = super()._get_response_headers_for_code(status_code, direction)
        if status_code in ("429", "503"):
            headers["Retry-After"] = RETRY_AFTER
        if self._is_conditional() and status_code in ("200", "304"):
            headers["ETag"] = ETAG
        if self._is_polled() and status_code in ("200", "304"):
            headers["Retry-After"] = POLL_AGAIN
        if self._submits() and status_code == "202":
            headers.update(SUBMITTED_HEADERS)
        if status_code == "201":
            headers["Location"] = CREATED_LOCATION
        if self._is_idempotent() and status_code.startswith("2"):
            headers["Idempotent-Replayed"] = REPLAYED
        if not self._submits() and status_code not in UNCOUNTED_STATUSES:
            headers.update(
                rate_limit_headers(required=status_code not in SOMETIMES_UNCOUNTED_STATUSES)
            )
        elif self._submits() and status_code in ("402", "429"):
            # Refused after the limits counted the submission.
            headers.update(rate_limit_headers(required=True))
        elif self._submits() and status_code == "202":
            # An idempotent replay is not counted again, and answers without them.
            headers.update(rate_limit_headers(required=False))
        return headers

    def _problems(self):
        yield InvalidRequest, "invalid fields, parameters or headers"
        yield Unauthorized, "a missing, wrong, expired or revoked API key, or two different keys"
        yield Forbidden, "the key's role may not do this"
        yield NotAcceptable, "an Accept header that allows none of the media types it answers in"
        if "{" in self.path:
            yield NotFound, "no such object in your workspace"
        elif self.method == "POST" and self.path in NAMING_CREATES:
            yield NotFound, NAMING_CREATES[self.path]
        if self.method in ("POST", "PUT", "PATCH"):
            yield PayloadTooLarge, "a body over DATA_UPLOAD_MAX_MEMORY_SIZE"
        if self.method in ("POST", "PUT", "PATCH", "DELETE") and self.path != "/api/v1/jobs":
            yield Conflict, "the object's state forbids it"
        if self._submits():
            yield InsufficientCredits, "the workspace's balance is too low"
        if self._is_idempotent():
            yield Conflict, "the same Idempotency-Key is still in flight"
            yield IdempotencyMismatch, "an Idempotency-Key reused with a different request"
        yield RateLimited, "a rate limit is exhausted"
        yield ServiceUnavailable, "the database or Redis is out of reach"
