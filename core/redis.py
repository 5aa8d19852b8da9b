"""Redis clients: the shared one, and the cache backend and broker transport built on redis-py.

redis-py fills a table of about 160 response callbacks every time a `redis.Redis` is built
(redis/redis-py#3624), which costs more than a GET round trip. Django's cache backend and kombu's
broker channel both build a new client for every call; the classes here keep one per connection
pool instead (a client only borrows connections from its pool, so sharing it is safe).
"""

import json
from functools import cache

import redis
from django.conf import settings
from django.core.cache.backends import redis as django_redis
from kombu.transport import redis as kombu_redis


@cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url,
        socket_timeout=settings.REDIS_SOCKET_TIMEOUT,
        socket_connect_timeout=min(settings.REDIS_SOCKET_TIMEOUT, 2.0),
        health_check_interval=30,
    )


def get_redis() -> redis.Redis | None:
    """The shared Redis client, or None in the embedded default where the database does its work."""
    if not settings.REDIS_URL:
        return None
    return _client(settings.REDIS_URL)


class JsonSerializer:
    """The cache's values as JSON, never pickles: Django's default unpickles what it reads, so
    whoever could write to Redis could run code in every web and worker process. Whole numbers are
    stored as they are, as Django's own serializer does, so incr and decr stay atomic. A value that
    is not JSON (planted, or a pickle an earlier release wrote) reads as None, like a missing one."""

    def dumps(self, value):
        if type(value) is int:
            return value
        return json.dumps(value, separators=(",", ":")).encode()

    def loads(self, data):
        try:
            return int(data)
        except ValueError:
            pass
        try:
            return json.loads(data)
        except ValueError:
            return None


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._clients = {}

    def get_client(self, key=None, *, write=False):
        pool = self._get_connection_pool(write)
        client = self._clients.get(pool)
        if client is None:
            client = self._clients[pool] = self._client(connection_pool=pool)
        return client


class RedisCache(django_redis.RedisCache):
    """Django's Redis cache, with one client per connection pool, keeping values as JSON."""

    def __init__(self, server, params):
        super().__init__(server, params)
        self._class = RedisCacheClient
        self._options = {"serializer": JsonSerializer, **self._options}


class BrokerChannel(kombu_redis.Channel):
    _sync_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        # A closed channel drops its pool; a client of the old pool must not outlive it.
        if self._sync_client is None or self._sync_client.connection_pool is not self.pool:
            self._sync_client = super()._create_client()
        return self._sync_client


class BrokerTransport(kombu_redis.Transport):
    """kombu's Redis transport, publishing through one client per channel."""

    Channel = BrokerChannel
