"""Named locks shared by every process: Redis when configured, the database otherwise."""

import contextlib
import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.models import NamedLock
from core.redis import get_redis

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


@contextlib.contextmanager
def named_lock(name: str, *, ttl: int):
    """Yields True when this process holds the lock for up to `ttl` seconds, False otherwise."""
    token = uuid.uuid4().hex
    client = get_redis()
    if client is not None:
        acquired = bool(client.set(f"lock:{name}", token, nx=True, ex=ttl))
        try:
            yield acquired
        finally:
            if acquired:
                client.eval(_RELEASE, 1, f"lock:{name}", token)
        return
    acquired = _acquire_in_database(name, token, ttl)
    try:
        yield acquired
    finally:
        if acquired:
            NamedLock.objects.filter(name=name, token=token).delete()


def _acquire_in_database(name: str, token: str, ttl: int) -> bool:
    expires_at = timezone.now() + timedelta(seconds=ttl)
    try:
        with transaction.atomic():
            NamedLock.objects.create(name=name, token=token, expires_at=expires_at)
        return True
    except IntegrityError:
        # Taken, unless the holder's lease ran out (a crashed process): take it over then.
        stolen = NamedLock.objects.filter(name=name, expires_at__lt=timezone.now()).update(
            token=token, expires_at=expires_at
        )
        return stolen == 1
