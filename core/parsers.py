import io

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from core.errors import PayloadTooLarge

# No request needs more; deeper structures only exhaust the recursion of whoever walks them next.
MAX_JSON_DEPTH = 64


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, reading at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes (DRF reads the body from
    the stream, past the limit Django applies to request.body) nested at most MAX_JSON_DEPTH deep."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit:,} bytes.")
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
            too_deep = not _depth_within(data, MAX_JSON_DEPTH)
        except RecursionError:
            too_deep = True
        if too_deep:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        return data


def _depth_within(data, limit: int) -> bool:
    """Whether no array or object of `data` lies more than `limit` levels deep (walked without
    recursion)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return False
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return True
