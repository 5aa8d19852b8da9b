"""Idempotency-Key for create endpoints, with Stripe's semantics.

Same key and same request: the first response again (its status, body and the headers that describe
the resource), with `Idempotent-Replayed: true`. Same key and a different request: 422. Same key while
the first request is still running: 409. Only successful responses are kept, so a request rejected by
authentication or validation can be fixed and sent again with the same key. Keys are scoped to the
tenant and kept IDEMPOTENCY_KEY_TTL_HOURS.
"""

import functools
import hashlib
import json
import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response

from core.errors import Conflict, IdempotencyMismatch, InvalidRequest
from core.models import IdempotencyRecord

HEADER = "Idempotency-Key"
_PRINTABLE = re.compile(r"^[\x20-\x7e]{1,255}$")
# The headers that describe what the first request created, replayed with its body. The rate-limit
# fields are not among them: a replay is not counted against the limits, and answers without them.
REPLAYED_HEADERS = (
    "Content-Language",
    "Content-Location",
    "ETag",
    "Last-Modified",
    "Link",
    "Location",
    "Retry-After",
)


def idempotency_key_parse(raw: str | None) -> str | None:
    if raw is None:
        return None
    key = raw.strip()
    if len(key) >= 2 and key[0] == key[-1] == '"':
        key = key[1:-1]
    if not key or not _PRINTABLE.match(key):
        raise InvalidRequest(f"{HEADER} must be 1 to 255 printable ASCII characters.")
    return key


def request_fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    material = f"{request.method}\n{request.path}\n{body}"
    return hashlib.sha256(material.encode()).hexdigest()


def idempotent(handler=None, *, secret_fields: tuple[str, ...] = ()):
    """Decorate a DRF view method that creates something. `secret_fields` of the response (a key
    or a link shown once) are never stored: a replay answers them as null."""
    if handler is None:
        return functools.partial(idempotent, secret_fields=secret_fields)

    @functools.wraps(handler)
    def wrapper(view, request, *args, **kwargs):
        key = idempotency_key_parse(request.headers.get(HEADER))
        if key is None:
            return handler(view, request, *args, **kwargs)
        tenant = request.user.tenant
        fingerprint = request_fingerprint(request)
        record = _claim(tenant, key, fingerprint)
        if record.state == IdempotencyRecord.State.DONE:
            return _replay(record)
        try:
            response = handler(view, request, *args, **kwargs)
        except BaseException:
            record.delete()
            raise
        if not 200 <= response.status_code < 300:
            record.delete()
            return response
        record.state = IdempotencyRecord.State.DONE
        record.response_status = response.status_code
        record.response_body = {
            name: None if name in secret_fields else value for name, value in response.data.items()
        }
        record.response_headers = _replayed_headers(response)
        record.save(update_fields=["state", "response_status", "response_body", "response_headers"])
        return response

    # The OpenAPI schema documents the Idempotency-Key header and its answers for these methods.
    wrapper.idempotent = True
    return wrapper


def _claim(tenant, key: str, fingerprint: str) -> IdempotencyRecord:
    """Insert the in-flight record, or return the earlier one after checking it matches. The insert
    commits at once so that racing requests see it."""
    expires_at = timezone.now() + timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    for _ in range(2):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    tenant=tenant, key=key, fingerprint=fingerprint, expires_at=expires_at
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(tenant=tenant, key=key).first()
        if existing is None:
            continue
        if existing.expires_at <= timezone.now():
            IdempotencyRecord.objects.filter(pk=existing.pk).delete()
            continue
        if existing.fingerprint != fingerprint:
            raise IdempotencyMismatch()
        if existing.state == IdempotencyRecord.State.IN_FLIGHT:
            raise Conflict("A request with this Idempotency-Key is still being processed.")
        return existing
    raise Conflict("A request with this Idempotency-Key is still being processed.")


def _replayed_headers(response: Response) -> dict[str, str]:
    headers = {name: response[name] for name in REPLAYED_HEADERS if response.has_header(name)}
    # A DRF response gets its Content-Type when rendered: from content_type when the view chose one.
    if getattr(response, "content_type", None):
        headers["Content-Type"] = response.content_type
    return headers


def _replay(record: IdempotencyRecord) -> Response:
    headers = {**record.response_headers, "Idempotent-Replayed": "true"}
    content_type = headers.pop("Content-Type", None)
    return Response(
        record.response_body,
        status=record.response_status,
        headers=headers,
        content_type=content_type,
    )


def idempotency_records_purge() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
