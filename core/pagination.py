from rest_framework import pagination
from rest_framework.exceptions import NotFound

from core.errors import InvalidRequest


class CursorPagination(pagination.CursorPagination):
    ordering = "-created_at"
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        # DRF answers a cursor it cannot read with 404; it is the request that is wrong.
        try:
            return super().decode_cursor(request)
        except NotFound as exc:
            raise InvalidRequest(
                errors={self.cursor_query_param: ["Invalid cursor: use a next or previous link."]}
            ) from exc
