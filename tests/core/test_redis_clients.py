"""The cache backend and the broker transport keep one redis-py client per connection pool."""

import pickle

import kombu
from django.core.cache import caches

from config.celery import app
from core.redis import BrokerChannel, RedisCache, get_redis

RAN = []


def _planted_code(marker):
    RAN.append(marker)
    return marker


class _Planted:
    """A pickle that, loaded, calls _planted_code: what anyone who can write to Redis could plant."""

    def __reduce__(self):
        return (_planted_code, ("ran",))


def test_the_cache_answers_through_one_client_per_pool():
    cache = caches["default"]
    assert isinstance(cache, RedisCache)
    cache.set("greeting", {"hello": "world"}, 60)
    assert cache.get("greeting") == {"hello": "world"}
    assert cache.get_many(["greeting", "missing"]) == {"greeting": {"hello": "world"}}
    cache.delete("greeting")
    assert cache.get("greeting") is None
    assert cache._cache.get_client() is cache._cache.get_client(write=True)


def test_a_fresh_cache_backend_reads_what_another_wrote(settings):
    cache = caches["default"]
    cache.set("shared", [1, 2, 3], 60)
    other = RedisCache(settings.CACHES["default"]["LOCATION"], {})
    assert other.get("shared") == [1, 2, 3]


def test_the_broker_channel_publishes_through_one_client_and_drops_it_with_its_pool():
    queue = kombu.Queue("offload-test-channel", routing_key="offload-test-channel")
    with app.connection_for_write() as connection:
        channel = connection.default_channel
        assert isinstance(channel, BrokerChannel)
        producer = kombu.Producer(channel)
        for n in range(3):
            producer.publish({"n": n}, routing_key=queue.name, declare=[queue])
        assert channel._size(queue.name) == 3
        client = channel._create_client()
        assert channel._create_client() is client
        channel._disconnect_pools()
        assert channel._create_client() is not client
        received = [queue(channel).get(no_ack=True).payload["n"] for _ in range(3)]
        assert received == [0, 1, 2]
        channel.queue_delete(queue.name)


def test_the_cache_keeps_json_and_never_loads_a_pickle_planted_in_redis():
    cache = caches["default"]
    get_redis().set(cache.make_and_validate_key("planted"), pickle.dumps(_Planted()))
    assert cache.get("planted") is None
    assert RAN == []
    cache.set("greeting", {"hello": ["world", 1, None]}, 60)
    assert get_redis().get(cache.make_and_validate_key("greeting")) == (
        b'{"hello":["world",1,null]}'
    )
    # Whole numbers stay Redis integers, which incr counts atomically.
    assert cache.add("counted", 1)
    assert cache.incr("counted") == 2
    assert cache.get("counted") == 2
