"""Idempotency-Key for create endpoints, with Stripe's semantics.

Same key and same request: the first response again (its status, body and the headers that describe
the resource), with `Idempotent-Replayed: true`. Same key and a different request: 422. Same key while
the first request is still running: 409. Only successful responses are kept, so a request rejected by
authentication or validation can be fixed and sent again with the same key. Keys are scoped to the
tenant and kept IDEMPOTENCY_KEY_TTL_HOURS.

A running request holds its key for IDEMPOTENCY_IN_FLIGHT_SECONDS, longer than any request may run:
a key held longer belongs to a request whose process died, and the next request takes it over.
"""

import contextlib
import functools
import hashlib
import json
import re
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

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
            # What the request creates and the answer stored for its key commit together: a
            # request whose answer cannot be stored leaves nothing behind to be created twice.
            with transaction.atomic():
                response = handler(view, request, *args, **kwargs)
                if 200 <= response.status_code < 300:
                    _record_response(record, response, secret_fields)
                    return response
        except BaseException:
            _release(record)
            raise
        _release(record)
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
        if _abandoned(existing):
            # Only while still in flight: the request may have finished since it was read.
            IdempotencyRecord.objects.filter(
                pk=existing.pk, state=IdempotencyRecord.State.IN_FLIGHT
            ).delete()
            continue
        if existing.fingerprint != fingerprint:
            raise IdempotencyMismatch()
        if existing.state == IdempotencyRecord.State.IN_FLIGHT:
            raise Conflict("A request with this Idempotency-Key is still being processed.")
        return existing
    raise Conflict("A request with this Idempotency-Key is still being processed.")


def _abandoned(record: IdempotencyRecord) -> bool:
    """An in-flight record older than any request may run: its request's process died."""
    held_since = timezone.now() - timedelta(seconds=settings.IDEMPOTENCY_IN_FLIGHT_SECONDS)
    return record.state == IdempotencyRecord.State.IN_FLIGHT and record.created_at <= held_since


def _record_response(record: IdempotencyRecord, response: Response, secret_fields) -> None:
    """Store the answer, while this request still holds the key: one that outlived its hold has
    lost it to another request, and what it created is rolled back (409)."""
    stored = IdempotencyRecord.objects.filter(
        pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT
    ).update(
        state=IdempotencyRecord.State.DONE,
        response_status=response.status_code,
        response_body=json.dumps(
            {
                name: None if name in secret_fields else value
                for name, value in response.data.items()
            },
            cls=JSONEncoder,
        ),
        response_headers=_replayed_headers(response),
    )
    if not stored:
        raise Conflict("Another request took over this Idempotency-Key while this one ran.")


def _release(record: IdempotencyRecord) -> None:
    """Free the key of a request that stores nothing. When the database is out of reach the hold
    lapses by itself, after IDEMPOTENCY_IN_FLIGHT_SECONDS."""
    with contextlib.suppress(DatabaseError):
        IdempotencyRecord.objects.filter(
            pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT
        ).delete()


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
        json.loads(record.response_body),
        status=record.response_status,
        headers=headers,
        content_type=content_type,
    )


def idempotency_records_purge() -> int:
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
