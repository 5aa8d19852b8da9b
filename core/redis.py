from functools import cache

import redis
from django.conf import settings


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
    )


def get_redis() -> redis.Redis | None:
    """The shared Redis client, or None in the embedded default where the database does its work."""
    if not settings.REDIS_URL:
        return None
    return _client(settings.REDIS_URL)
