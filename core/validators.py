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


# Bidi embeddings, overrides and isolates reorder on screen and on paper the characters that follow
# them: a description could show an amount, a date or an account number other than the one stored.
# Marks (LRM, RLM) and joiners (ZWJ, ZWNJ), which scripts and emoji need, stay allowed.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
LAYOUT_CONTROLS = frozenset("\t\n\r")


def _refuse_controls(value: str, allowed: frozenset[str], message: str) -> None:
    for char in value:
        if char in allowed:
            continue
        if char in BIDI_CONTROLS or unicodedata.category(char) in {"Cc", "Zl", "Zp"}:
            raise ValidationError(message, code="unprintable")


def validate_text_line(value: str) -> None:
    """A line of a document (a name, a registration number): no control characters or line
    breaks, no bidi overrides."""
    _refuse_controls(
        value,
        frozenset(),
        "Control characters (such as a line break) and bidirectional overrides are not allowed.",
    )


def validate_text_block(value: str) -> None:
    """Text of a document that keeps its line breaks and tabs (an address, a description), with no
    other control characters and no bidi overrides."""
    _refuse_controls(
        value,
        LAYOUT_CONTROLS,
        "Control characters other than line breaks and tabs, and bidirectional overrides, "
        "are not allowed.",
    )
