"""Validators of text fields, shared by models and serializers."""

import unicodedata

from django.core.exceptions import ValidationError

# Control characters (Cc), invisible formatting such as bidi overrides (Cf), and the Unicode line and
# paragraph separators (Zl, Zp): an invoice number goes into headers, file names and the PDF; a
# key's name into the operators' terminals.
UNPRINTABLE_CATEGORIES = {"Cc", "Cf", "Zl", "Zp"}


def validate_printable(value: str) -> None:
    if any(unicodedata.category(char) in UNPRINTABLE_CATEGORIES for char in value):
        raise ValidationError(
            "Control or invisible characters (such as a line break) are not allowed.",
            code="unprintable",
        )
