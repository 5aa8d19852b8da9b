"""Signed, expiring links to the pages that show an artifact, usable without logging in."""

import time

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "generations.view"
# A link is stamped with the start of the hundredth of GENERATION_VIEW_URL_MAX_AGE it is made in,
# not with the current second: a finished job read again and again hands out the same link (and
# keeps its ETag), and every link stays valid for at least 99% of the lifetime, never longer.
LIFETIME_STEPS = 100


class SteppedTimestampSigner(signing.TimestampSigner):
    def timestamp(self):
        step = max(settings.GENERATION_VIEW_URL_MAX_AGE // LIFETIME_STEPS, 1)
        now = int(time.time())
        return signing.b62_encode(now - now % step)


def view_token(kind: str, pk: int | str) -> str:
    return SteppedTimestampSigner(salt=SALT).sign_object([kind, pk], compress=True)


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
