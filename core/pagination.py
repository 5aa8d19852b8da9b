from base64 import b64decode
from urllib.parse import parse_qs, urlsplit

from django.core import signing
from django.core.exceptions import ValidationError
from rest_framework import pagination
from rest_framework.utils.urls import replace_query_param

from core.errors import InvalidRequest
from core.validation import query_params_check


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

    # Cursors are signed, for the list that gave them: a cursor changed on the way (cut short, made
    # by hand, taken from another list) is a 400, never a page from elsewhere in the list or an
    # empty one that would end a client's walk early.
    def encode_cursor(self, cursor):
        url = super().encode_cursor(cursor)
        (encoded,) = parse_qs(urlsplit(url).query)[self.cursor_query_param]
        return replace_query_param(url, self.cursor_query_param, self._signer.sign(encoded))

    def decode_cursor(self, request):
        signed = request.query_params.get(self.cursor_query_param)
        if signed is None:
            return None
        try:
            tokens = parse_qs(
                b64decode(self._signer.unsign(signed)).decode("ascii"), strict_parsing=True
            )
            cursor = pagination.Cursor(
                offset=pagination._positive_int(
                    tokens.get("o", ["0"])[0], cutoff=self.offset_cutoff
                ),
                reverse=tokens.get("r", ["0"])[0] == "1",
                position=tokens.get("p", [None])[0],
            )
            if cursor.position is not None:
                self._ordering_field().to_python(cursor.position)
        except (signing.BadSignature, ValueError, ValidationError) as exc:
            raise InvalidRequest(
                errors={self.cursor_query_param: ["Invalid cursor: use a next or previous link."]}
            ) from exc
        return cursor

    def _ordering_field(self):
        name = self.ordering[0] if isinstance(self.ordering, list | tuple) else self.ordering
        return self._model._meta.get_field(name.lstrip("-"))

    def paginate_queryset(self, queryset, request, view=None):
        query_params_check(
            request, view, paging=(self.cursor_query_param, self.page_size_query_param)
        )
        self._model = queryset.model
        self._signer = signing.Signer(salt=f"offload.cursor:{request.path}")
        return super().paginate_queryset(queryset, request, view)
