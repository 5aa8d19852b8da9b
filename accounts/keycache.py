"""Each web process's own copy of the API keys it has authenticated, dropped in every process as
soon as a key or its workspace changes.

Every request of a client presents the same key, and reading it from the shared cache is a Redis
round trip: the costliest step of a status poll. So each process keeps the keys it has seen for
API_KEY_CACHE_SECONDS. Saving a key or its tenant publishes the key's hash on a Redis channel, and a
listener thread in each process drops its copy when the message arrives. A process uses its copies
only while its listener is subscribed: before that, and after losing its connection, it forgets them
all and reads the shared cache, so a missed message can never leave a revoked key usable. Nor does
it use them while a message is on its way to the listener (arrived, or being read), so a request
that comes after a change never races the listener's thread to the copy it is about to drop.
"""

import logging
import os
import select
import threading
import time

import redis
from django.conf import settings

from core.logging import OutageLog

logger = logging.getLogger(__name__)

CHANNEL = "offload:api-keys:changed"
LISTENER_NAME = "offload-api-key-listener"
MAX_ENTRIES = 10_000
RECONNECT_SECONDS = 1.0
# Silence this long on the channel is broken by a ping; no answer within as long again ends it.
SILENCE_SECONDS = 30.0

_entries: dict[str, tuple[float, object]] = {}
_lock = threading.Lock()
_subscribed = threading.Event()
_state = {"pid": None, "generation": 0, "socket": None, "reading": False}


def local_get(key_hash: str):
    """The process's copy of the key with this hash, or None."""
    if not _listening() or _news_unread():
        return None
    entry = _entries.get(key_hash)
    if entry is None or entry[0] < time.monotonic():
        return None
    return entry[1]


def generation() -> int:
    """Take this before reading a key elsewhere, and hand it to local_set."""
    return _state["generation"]


def local_set(key_hash: str, api_key, read_at_generation: int) -> None:
    """Keep a copy, unless a change was announced since the key was read (it may be stale)."""
    if settings.API_KEY_CACHE_SECONDS <= 0 or not _listening():
        return
    with _lock:
        if _state["generation"] != read_at_generation:
            return
        if len(_entries) >= MAX_ENTRIES:
            _entries.clear()
        _entries[key_hash] = (time.monotonic() + settings.API_KEY_CACHE_SECONDS, api_key)


def announce(key_hashes: list[str]) -> None:
    """Drop the keys here and tell every other process to drop them."""
    if not key_hashes:
        return
    _forget(key_hashes)
    from core.redis import get_redis

    client = get_redis()
    if client is not None:
        client.publish(CHANNEL, " ".join(key_hashes))


def forget_all() -> None:
    with _lock:
        _state["generation"] += 1
        _entries.clear()


def _forget(key_hashes) -> None:
    with _lock:
        _state["generation"] += 1
        for key_hash in key_hashes:
            _entries.pop(key_hash, None)


def _news_unread() -> bool:
    """Whether a message has reached the listener's connection and not yet been acted on."""
    # In this order: the listener marks itself reading before it takes bytes off the connection.
    try:
        arrived = _readable(_state["socket"], 0)
    except (TypeError, ValueError, OSError):
        # No connection (yet, or any more): no copies.
        return True
    return arrived or _state["reading"]


def _readable(sock, timeout: float) -> bool:
    """Whether the socket has something to read (or is closed), waiting up to timeout seconds.
    poll, not select: select refuses a descriptor above 1023, which a busy process hands out."""
    poller = select.poll()
    poller.register(sock, select.POLLIN)
    return bool(poller.poll(timeout * 1000))


def _listening() -> bool:
    """Whether this process may use its copies; starts the listener on a process's first use."""
    if not settings.REDIS_URL:
        return False
    if _state["pid"] != os.getpid():
        with _lock:
            if _state["pid"] != os.getpid():
                # A forked process inherits copies but not the listener thread.
                _state["pid"] = os.getpid()
                _subscribed.clear()
                _entries.clear()
                threading.Thread(
                    target=_listen, args=(settings.REDIS_URL,), daemon=True, name="api-key-listener"
                ).start()
    return _subscribed.is_set()


def _listen(url: str) -> None:
    client = redis.Redis.from_url(
        url,
        socket_connect_timeout=2,
        socket_keepalive=True,
        # Named in Redis's CLIENT LIST, by process.
        client_name=f"{LISTENER_NAME}:{os.getpid()}",
    )
    outage = OutageLog(logger)
    while True:
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(CHANNEL)
            # Watched here and by every request (redis-py names no public way to its socket).
            connection = pubsub.connection._sock
            _state["socket"] = connection
            heard, pinged = time.monotonic(), False
            while True:
                if not _readable(connection, SILENCE_SECONDS / 3):
                    if time.monotonic() - heard < SILENCE_SECONDS:
                        continue
                    if pinged:
                        raise redis.ConnectionError("Redis did not answer the listener's ping.")
                    pubsub.ping()
                    heard, pinged = time.monotonic(), True
                    continue
                heard, pinged = time.monotonic(), False
                _state["reading"] = True
                try:
                    while (message := pubsub.get_message(timeout=0)) is not None:
                        _heard(message, outage)
                finally:
                    _state["reading"] = False
        except Exception:  # noqa: BLE001 - the listener must outlive any Redis outage
            _state["socket"] = None
            _subscribed.clear()
            forget_all()
            outage.failed(
                "API key listener lost Redis; this process keeps no copies of keys until it"
                " subscribes again."
            )
            time.sleep(RECONNECT_SECONDS)
        finally:
            pubsub.close()


def _heard(message, outage: OutageLog) -> None:
    if message["type"] == "subscribe":
        forget_all()
        _subscribed.set()
        outage.recovered("API key listener subscribed again.")
    elif message["type"] == "message":
        _forget(message["data"].decode().split())
