import base64
import binascii
from urllib.parse import parse_qs

from django.core.exceptions import ValidationError
from rest_framework import pagination
from rest_framework.exceptions import NotFound

from core.errors import InvalidRequest


class CursorPagination(pagination.CursorPagination):
    ordering = "-created_at"
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request):
        """?page_size= as a whole number from 1 to max_page_size; anything else is the request's
        error, not a silent default."""
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= self.max_page_size:
            raise InvalidRequest(
                errors={
                    self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]
                }
            )
        return int(raw)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update({"minimum": 1, "maximum": self.max_page_size})
                parameter["description"] = (
                    f"Results per page: {self.page_size} by default, at most {self.max_page_size}."
                )
        return parameters

    def decode_cursor(self, request):
        # DRF answers a cursor it cannot read with 404, and passes a position it cannot use on to
        # the query (a 500 there): it is the request that is wrong.
        try:
            encoded = request.query_params.get(self.cursor_query_param)
            if encoded is not None and not _cursor_well_formed(encoded):
                raise NotFound(self.invalid_cursor_message)
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


def _cursor_well_formed(encoded: str) -> bool:
    """Whether `encoded` is a cursor as the list's links give it. DRF reads any string, dropping
    what is not base64 and taking what is left (often nothing) for the first page: a mangled
    cursor would start a client's walk again from the top."""
    try:
        decoded = base64.b64decode(encoded.encode("ascii"), validate=True).decode("ascii")
    except (UnicodeError, binascii.Error):
        return False
    tokens = parse_qs(decoded, keep_blank_values=True)
    return bool(tokens) and set(tokens) <= {"o", "r", "p"}
