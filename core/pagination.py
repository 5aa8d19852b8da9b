from django.core.exceptions import ValidationError
from rest_framework import pagination
from rest_framework.exceptions import NotFound

from core.errors import InvalidRequest


class CursorPagination(pagination.CursorPagination):
    ordering = "-created_at"
    page_size_query_param = "page_size"
    max_page_size = 200

    def decode_cursor(self, request):
        # DRF answers a cursor it cannot read with 404, and passes a position it cannot use on to
        # the query (a 500 there): it is the request that is wrong.
        try:
            cursor = super().decode_cursor(request)
            if cursor is not None and cursor.position is not None:
                self._ordering_field().to_python(cursor.position)
        except (NotFound, ValidationError) as exc:
            raise InvalidRequest(
                errors={self.cursor_query_param: ["Invalid cursor: use a next or previous link."]}
            ) from exc
        return cursor

    def _ordering_field(self):
        name = self.ordering[0] if isinstance(self.ordering, list | tuple) else self.ordering
        return self._model._meta.get_field(name.lstrip("-"))

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model
        return super().paginate_queryset(queryset, request, view)
