"""Path converters of the API's URLs."""

import uuid

from django.urls import register_converter


class AnyCaseUuidConverter:
    """A UUID however it is written: upper or lower case, hyphenated or as 32 hex digits (Django's
    own `uuid` converter matches only the lower-case hyphenated form, so an id a client upper-cased
    would be a 404). Links are written in the canonical form."""

    regex = "[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"

    def to_python(self, value: str) -> uuid.UUID:
        return uuid.UUID(value)

    def to_url(self, value) -> str:
        return str(value)


def converters_register() -> None:
    register_converter(AnyCaseUuidConverter, "id")
