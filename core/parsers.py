import io

from django.conf import settings
from rest_framework import parsers

from core.errors import PayloadTooLarge


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser, reading at most DATA_UPLOAD_MAX_MEMORY_SIZE bytes: DRF reads the body
    from the stream, past the limit Django applies to request.body."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        body = stream.read(limit + 1)
        if len(body) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit:,} bytes.")
        return super().parse(io.BytesIO(body), media_type, parser_context)
