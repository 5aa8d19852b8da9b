"""Signed, expiring links to the pages that show an artifact, usable without logging in."""

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "generations.view"


def view_token(kind: str, pk: int | str) -> str:
    return signing.dumps([kind, pk], salt=SALT, compress=True)


def view_token_read(token: str) -> tuple[str, int] | None:
    try:
        kind, pk = signing.loads(token, salt=SALT, max_age=settings.GENERATION_VIEW_URL_MAX_AGE)
    except (signing.BadSignature, ValueError, TypeError):
        return None
    return kind, pk


def view_url(kind: str, pk: int | str) -> str:
    return settings.PUBLIC_BASE_URL + reverse("generation-view", args=[view_token(kind, pk)])


def file_path(kind: str, pk: int) -> str:
    return reverse("generation-file", args=[view_token(kind, pk)])


def file_url(kind: str, pk: int) -> str:
    return settings.PUBLIC_BASE_URL + file_path(kind, pk)
