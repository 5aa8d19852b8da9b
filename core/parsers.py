import io
import math
import re

from django.conf import settings
from rest_framework import parsers
from rest_framework.exceptions import ParseError

from core.errors import PayloadTooLarge

# No request needs more; deeper structures only exhaust the recursion of whoever walks them next.
MAX_JSON_DEPTH = 64
# An escaped UTF-16 surrogate: a pair is one character once parsed, half of one stays a surrogate.
SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, reading at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes (DRF reads the body from
    the stream, past the limit Django applies to request.body) nested at most MAX_JSON_DEPTH deep,
    its numbers finite: `1e400` is valid JSON that Python reads as infinity, which no field, id or
    JSON column takes. Its strings are text: half a surrogate pair (`"\\ud800"`) is valid JSON
    too, but no UTF-8 can hold it, neither a column nor the error that would quote it."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit:,} bytes.")
        try:
            data = super().parse(io.BytesIO(body), media_type, parser_context)
            problem = _shape_problem(
                data, MAX_JSON_DEPTH, texts=bool(SURROGATE_ESCAPE.search(body))
            )
        except RecursionError:
            problem = f"nested deeper than {MAX_JSON_DEPTH} levels"
        if problem:
            raise ParseError(f"JSON parse error - {problem}.")
        return data


def _shape_problem(data, limit: int, *, texts: bool) -> str:
    """What no request may hold, walked without recursion: an array or object more than `limit`
    levels deep, a number too large to be finite, or (when `texts` are to be checked too) a key or
    string that is not text ('' when there is none of them)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return "a number is too large"
        if texts and isinstance(value, str) and not _is_text(value):
            return "a string holds half of a UTF-16 surrogate pair"
        if isinstance(value, dict | list):
            if depth > limit:
                return f"nested deeper than {limit} levels"
            children = [*value, *value.values()] if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return ""


def _is_text(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True
