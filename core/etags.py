"""Entity tags of API representations, so a client polling an object gets 304 until it changes."""

import hashlib
import json

from django.utils.http import parse_etags
from rest_framework import status
from rest_framework.response import Response


def representation_etag(data) -> str:
    body = json.dumps(data, sort_keys=True, default=str).encode()
    return f'"{hashlib.sha256(body).hexdigest()[:32]}"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header matches the resource's current `etag` (RFC 9110 13.1.2):
    `*` matches any existing resource, otherwise one of its comma-separated entity tags must
    equal it by the weak comparison (W/ ignored)."""
    if not if_none_match:
        return False
    tags = parse_etags(if_none_match)
    return "*" in tags or etag.removeprefix("W/") in {tag.removeprefix("W/") for tag in tags}


class ConditionalRetrieveMixin:
    """A read of an object that changes while a client waits on it (an invoice's `pdf_status`, a
    story generating) carries its ETag; If-None-Match answers 304, with no body, while it is
    current."""

    def retrieve(self, request, *args, **kwargs):
        response = super().retrieve(request, *args, **kwargs)
        etag = representation_etag(self.etag_data(response.data))
        if etag_matches(request.headers.get("If-None-Match"), etag):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        response["ETag"] = etag
        return response

    def etag_data(self, data):
        """What the entity tag is computed from: the representation, by default."""
        return data
