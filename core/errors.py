"""RFC 9457 problem details for every API error, each with a stable `code`."""

import logging
from collections import Counter

import psycopg
import redis
from django.core.exceptions import (
    BadRequest,
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.db import IntegrityError, InterfaceError, OperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, JsonResponse
from django.views import defaults
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from core.request_context import current_request_id

logger = logging.getLogger(__name__)

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_TYPE_BASE = "https://offload.dev/problems/"


class ApiError(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    code = "INVALID_REQUEST"
    title = "Invalid request"
    default_detail = "The request is invalid."

    def __init__(self, detail=None, *, errors=None, headers=None):
        super().__init__(detail or self.default_detail)
        self.errors = errors
        self.headers = headers or {}


class InvalidRequest(ApiError):
    def __init__(self, detail=None, *, errors=None, headers=None):
        if detail is None and errors:
            detail = "The request has invalid fields."
        super().__init__(detail, errors=errors, headers=headers)


class Unauthorized(ApiError):
    status_code = 401
    code = "UNAUTHORIZED"
    title = "Unauthorized"
    default_detail = "A valid API key is required."


class InsufficientCredits(ApiError):
    status_code = 402
    code = "INSUFFICIENT_CREDITS"
    title = "Insufficient credits"
    default_detail = "The workspace's credit balance does not cover this request."


class Forbidden(ApiError):
    status_code = 403
    code = "FORBIDDEN"
    title = "Forbidden"
    default_detail = "You are not allowed to do this."


class NotFound(ApiError):
    status_code = 404
    code = "NOT_FOUND"
    title = "Not found"
    default_detail = "Not found."


class NotAcceptable(ApiError):
    """Raised as DRF's own NotAcceptable by content negotiation; named here for the schema."""

    status_code = 406
    title = "Not acceptable"
    default_detail = "No media type the Accept header allows can answer this."


class Conflict(ApiError):
    status_code = 409
    code = "CONFLICT"
    title = "Conflict"
    default_detail = "The resource is in a state that does not allow this."


class IdempotencyMismatch(ApiError):
    status_code = 422
    code = "IDEMPOTENCY_MISMATCH"
    title = "Idempotency key reused"
    default_detail = "This Idempotency-Key was used with a different request."


class RateLimited(ApiError):
    status_code = 429
    code = "RATE_LIMITED"
    title = "Too many requests"
    default_detail = "Rate limit exceeded."


class ModelError(ApiError):
    status_code = 502
    code = "MODEL_ERROR"
    title = "Model error"
    default_detail = "The generation provider returned an unusable answer."


class PayloadTooLarge(ApiError):
    status_code = 413
    title = "Payload too large"
    default_detail = "The request body is larger than this API accepts."


class ServiceUnavailable(ApiError):
    status_code = 503
    code = "SERVICE_UNAVAILABLE"
    title = "Service unavailable"
    default_detail = "A service this request needs is unavailable; try again later."


# A store the request needs is unreachable: the client should come back, not report a bug.
# Out of reach, or not Redis at all (a wrong REDIS_URL answering another protocol): the same 503.
OUTAGES = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.InvalidResponse,
    OperationalError,
    InterfaceError,
)
OUTAGE_RETRY_AFTER = 5

_DRF_CODES = {
    exceptions.ParseError: (400, "INVALID_REQUEST", "Invalid request"),
    exceptions.ValidationError: (400, "INVALID_REQUEST", "Invalid request"),
    exceptions.UnsupportedMediaType: (400, "INVALID_REQUEST", "Invalid request"),
    exceptions.NotAuthenticated: (401, "UNAUTHORIZED", "Unauthorized"),
    exceptions.AuthenticationFailed: (401, "UNAUTHORIZED", "Unauthorized"),
    exceptions.PermissionDenied: (403, "FORBIDDEN", "Forbidden"),
    exceptions.NotFound: (404, "NOT_FOUND", "Not found"),
    exceptions.MethodNotAllowed: (405, "INVALID_REQUEST", "Method not allowed"),
    exceptions.NotAcceptable: (406, "INVALID_REQUEST", "Not acceptable"),
    exceptions.Throttled: (429, "RATE_LIMITED", "Too many requests"),
}


def problem_body(*, status_code: int, code: str, title: str, detail: str, errors=None) -> dict:
    body = {
        "type": PROBLEM_TYPE_BASE + code.lower().replace("_", "-"),
        "title": title,
        "status": status_code,
        "detail": detail,
        "code": code,
        "request_id": current_request_id(),
    }
    if errors:
        body["errors"] = errors
    return body


def problem_response(**kwargs) -> JsonResponse:
    """A problem+json response outside DRF (Django's own 404/405/500 under /api/)."""
    return JsonResponse(
        problem_body(**kwargs), status=kwargs["status_code"], content_type=PROBLEM_CONTENT_TYPE
    )


class NulInQueryString(BadRequest):
    """A query string carrying a NUL character (`%00`): no text column holds one, and PostgreSQL
    refuses to compare a column with one, so a filter given one would fail the request."""

    def __init__(self, names: list[str]):
        super().__init__("A query parameter contains a NUL character.")
        self.names = names


def malformed_request_error(exc: Exception) -> ApiError:
    """The client's error for a request Django refuses before or while reading it
    (SuspiciousOperation, BadRequest): a Host it does not serve, too many fields, too big a body."""
    if isinstance(exc, RequestDataTooBig):
        return PayloadTooLarge()
    if isinstance(exc, DisallowedHost):
        return InvalidRequest("The Host header names a host this server does not answer to.")
    if isinstance(exc, TooManyFieldsSent | TooManyFilesSent):
        return InvalidRequest("The request has too many query parameters or form fields.")
    if isinstance(exc, NulInQueryString):
        return InvalidRequest(
            str(exc), errors={name: ["Contains a NUL character."] for name in exc.names}
        )
    return InvalidRequest()


def unlisted(response):
    """An error page that may stand in for a public share page: it leaks no address and is not
    indexed."""
    response["Referrer-Policy"] = "no-referrer"
    response["X-Robots-Tag"] = "noindex"
    return response


def bad_request(request, exception):
    """Django's 400 page (handler400): under /api/, problem+json like every other API error."""
    if not is_api_request(request):
        return unlisted(defaults.bad_request(request, exception))
    error = malformed_request_error(exception)
    return problem_response(
        status_code=error.status_code,
        code=error.code,
        title=error.title,
        detail=str(error.detail),
        errors=error.errors,
    )


def is_api_request(request) -> bool:
    return request.path.startswith("/api/")


def _describe(exc) -> tuple[int, str, str, str, object]:
    if isinstance(exc, ApiError):
        return exc.status_code, exc.code, exc.title, str(exc.detail), exc.errors
    for klass, (status_code, code, title) in _DRF_CODES.items():
        if isinstance(exc, klass):
            if isinstance(exc, exceptions.ValidationError):
                return status_code, code, title, "The request has invalid fields.", exc.detail
            return status_code, code, title, _flatten(exc.detail), None
    return exc.status_code, "INVALID_REQUEST", "Invalid request", _flatten(exc.detail), None


def _flatten(detail) -> str:
    if isinstance(detail, list | tuple):
        return " ".join(_flatten(item) for item in detail)
    if isinstance(detail, dict):
        return " ".join(f"{key}: {_flatten(value)}" for key, value in detail.items())
    return str(detail)


def records_counted(objects) -> str:
    """How many records of each kind: "2 invoices, 1 time entry"."""
    counts = Counter(obj._meta for obj in objects)
    return ", ".join(
        f"{count} {opts.verbose_name if count == 1 else opts.verbose_name_plural}"
        for opts, count in sorted(counts.items(), key=lambda item: item[0].label)
    )


def _still_referred_to(exc: ProtectedError | RestrictedError) -> str:
    objects = getattr(exc, "protected_objects", None) or exc.restricted_objects
    return f"It cannot be deleted while other records refer to it ({records_counted(objects)})."


RELATED_RECORD_CHANGED = "A related record changed meanwhile (deleted, or newly referring to it)."


def _foreign_key_raced(exc: Exception) -> bool:
    """A foreign key broken by a concurrent request: a row this one refers to was deleted since it
    was checked, or a row referring to what this one deletes was added (PostgreSQL checks the
    project's foreign keys at commit; SQLite words it so)."""
    return isinstance(exc, IntegrityError) and (
        isinstance(exc.__cause__, psycopg.errors.ForeignKeyViolation)
        or "FOREIGN KEY constraint failed" in str(exc)
    )


def problem_exception_handler(exc, context):
    if isinstance(exc, Http404):
        exc = NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = Forbidden()
    elif isinstance(exc, ProtectedError | RestrictedError):
        exc = Conflict(_still_referred_to(exc))
    elif _foreign_key_raced(exc):
        exc = Conflict(RELATED_RECORD_CHANGED)
    elif isinstance(exc, SuspiciousOperation):
        logger.warning("Refused a malformed request: %s", exc)
        exc = malformed_request_error(exc)
    elif isinstance(exc, OUTAGES):
        logger.warning("A service the request needs is unreachable: %r", exc)
        exc = ServiceUnavailable(headers={"Retry-After": str(OUTAGE_RETRY_AFTER)})
    if not isinstance(exc, exceptions.APIException):
        logger.exception("Unhandled error in %s", context.get("view").__class__.__name__)
        status_code, code, title = 500, "INTERNAL_ERROR", "Internal error"
        detail, errors, headers = "An internal error occurred.", None, {}
    else:
        status_code, code, title, detail, errors = _describe(exc)
        headers = dict(getattr(exc, "headers", None) or {})
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(int(exc.wait))
    body = problem_body(
        status_code=status_code, code=code, title=title, detail=detail, errors=errors
    )
    request = context.get("request")
    if request is not None:
        # A problem is JSON whatever the view answers in otherwise: the schema's YAML would be
        # sent as problem+json.
        request.accepted_renderer = JSONRenderer()
        request.accepted_media_type = PROBLEM_CONTENT_TYPE
    return Response(body, status=status_code, headers=headers, content_type=PROBLEM_CONTENT_TYPE)
