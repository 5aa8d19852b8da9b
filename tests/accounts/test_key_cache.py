"""Each web process keeps the keys it has authenticated, and drops them when a key or its workspace
changes in any other process: a real gunicorn server with two worker processes."""

import os
import threading
import time
from datetime import timedelta

import httpx
import pytest
from django.db import connection, transaction
from django.utils import timezone

from accounts import keycache
from accounts.models import ApiKey, api_key_hash
from accounts.services import api_key_authenticate, api_key_create, api_key_revoke
from core.redis import get_redis
from tests.concurrency import sessions_waiting_for_a_lock
from tests.webserver import running_web
from tests.worker import READY_TIMEOUT, wait_for

pytestmark = pytest.mark.django_db(transaction=True)
WEB_PROCESSES = 2


@pytest.fixture
def web_server():
    with running_web(processes=WEB_PROCESSES) as base:
        yield base


def _listeners() -> int:
    return dict(get_redis().pubsub_numsub(keycache.CHANNEL)).get(keycache.CHANNEL.encode(), 0)


def _statuses(base: str, plaintext: str, count: int = 20) -> set[int]:
    headers = {"Authorization": f"Bearer {plaintext}"}
    with httpx.Client(timeout=10) as client:
        # A new connection per request: gunicorn hands each to whichever worker accepts it first.
        return {
            client.get(f"{base}/api/v1/me", headers={**headers, "Connection": "close"}).status_code
            for _ in range(count)
        }


def _warm(base: str, plaintext: str) -> None:
    """Until every web process listens, and has answered with its own copy of the key."""
    # Each process subscribes on its first request, which gunicorn hands to whichever is quickest.
    deadline = time.monotonic() + READY_TIMEOUT
    while _listeners() < WEB_PROCESSES and time.monotonic() < deadline:
        _statuses(base, plaintext, 4)
        time.sleep(0.1)
    assert _listeners() >= WEB_PROCESSES
    assert _statuses(base, plaintext) == {200}


def test_a_key_revoked_in_one_process_is_refused_at_once_by_every_other(web_server, tenant):
    api_key, plaintext = api_key_create(tenant=tenant, name="poller")
    _warm(web_server, plaintext)
    api_key_revoke(api_key=api_key)
    assert _statuses(web_server, plaintext) == {401}


def test_the_keys_a_key_made_are_refused_at_once_by_every_process_once_it_is_revoked(
    web_server, tenant
):
    maker, _ = api_key_create(tenant=tenant, name="leaked", role="admin")
    made, _ = api_key_create(tenant=tenant, name="made", role="admin", created_by_key=maker)
    _, plaintext = api_key_create(tenant=tenant, name="made by made", created_by_key=made)
    _warm(web_server, plaintext)
    api_key_revoke(api_key=maker)
    assert _statuses(web_server, plaintext) == {401}


def test_a_workspace_deactivated_in_one_process_is_refused_at_once_by_every_other(
    web_server, tenant
):
    _, plaintext = api_key_create(tenant=tenant, name="poller")
    _warm(web_server, plaintext)
    tenant.is_active = False
    tenant.save()
    assert _statuses(web_server, plaintext) == {401}


def test_a_copy_read_before_a_change_was_announced_is_not_kept(tenant):
    api_key, plaintext = api_key_create(tenant=tenant, name="racer")
    key_hash = api_key_hash(plaintext)
    assert api_key_authenticate(plaintext) is not None
    deadline = time.monotonic() + 10
    while keycache.local_get(key_hash) is None and time.monotonic() < deadline:
        api_key_authenticate(plaintext)
        time.sleep(0.05)
    assert keycache.local_get(key_hash) is not None
    read_at = keycache.generation()
    keycache.announce([key_hash])
    keycache.local_set(key_hash, api_key, read_at)
    assert keycache.local_get(key_hash) is None


def test_a_copy_is_not_used_while_an_announcement_waits_for_the_listener(tenant):
    _, plaintext = api_key_create(tenant=tenant, name="poller")
    key_hash = api_key_hash(plaintext)
    deadline = time.monotonic() + 10
    while keycache.local_get(key_hash) is None and time.monotonic() < deadline:
        api_key_authenticate(plaintext)
        time.sleep(0.05)
    assert keycache.local_get(key_hash) is not None
    # Another process revokes the key while this one's listener cannot act on the news yet (a
    # busy process: the request's thread runs first); the request must not use the copy.
    with keycache._lock:
        get_redis().publish(keycache.CHANNEL, key_hash)
        time.sleep(0.2)
        assert keycache.local_get(key_hash) is None
    assert keycache.local_get(key_hash) is None


def test_a_listener_cut_off_from_redis_forgets_its_copies_and_subscribes_again(tenant):
    _, plaintext = api_key_create(tenant=tenant, name="survivor")
    key_hash = api_key_hash(plaintext)

    def wait_for_copy():
        deadline = time.monotonic() + 10
        while keycache.local_get(key_hash) is None and time.monotonic() < deadline:
            api_key_authenticate(plaintext)
            time.sleep(0.05)
        return keycache.local_get(key_hash)

    assert wait_for_copy() is not None
    # This process's listener only: others on the same Redis keep theirs.
    listener = f"{keycache.LISTENER_NAME}:{os.getpid()}"
    listeners = [c for c in get_redis().client_list(_type="pubsub") if c["name"] == listener]
    assert len(listeners) == 1
    get_redis().client_kill_filter(_id=listeners[0]["id"])
    deadline = time.monotonic() + 5
    while keycache.local_get(key_hash) is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert keycache.local_get(key_hash) is None
    assert wait_for_copy() is not None
    assert _listeners() >= 1


@pytest.mark.parametrize(
    "change",
    [
        {"revoked_at": timezone.now()},
        {"expires_at": timezone.now() - timedelta(seconds=1)},
    ],
    ids=["revoked", "expired"],
)
def test_a_request_that_read_the_key_before_it_was_revoked_does_not_cache_it(tenant, change):
    api_key, plaintext = api_key_create(tenant=tenant)
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now() - timedelta(hours=1))
    answered = []

    def request():
        # Reads the key as it was committed, then waits for the revoking transaction's row lock.
        answered.append(api_key_authenticate(plaintext))
        connection.close()

    with transaction.atomic():
        key = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        for name, value in change.items():
            setattr(key, name, value)
        key.save()
        thread = threading.Thread(target=request)
        thread.start()
        wait_for(sessions_waiting_for_a_lock, timeout=READY_TIMEOUT, message="the request's UPDATE")
    thread.join()
    assert answered == [None]
    assert api_key_authenticate(plaintext) is None


@pytest.mark.parametrize("change", ["revoke", "demote", "suspend"])
def test_a_change_that_commits_while_a_request_reads_the_key_is_not_cached_over(
    tenant, monkeypatch, change
):
    # A client polling: its key was used a moment ago, so this request writes no last-used time.
    api_key, plaintext = api_key_create(tenant=tenant, role="admin")
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    read_the_row = ApiKey.matches

    def another_process_changes_it_now(self, text):
        # The request has read the row; another process's change commits (its signals drop the
        # cached copies at once and on commit) before this request writes the shared cache.
        monkeypatch.setattr(ApiKey, "matches", read_the_row)
        if change == "revoke":
            api_key_revoke(api_key=ApiKey.objects.get(pk=self.pk))
        elif change == "demote":
            key = ApiKey.objects.get(pk=self.pk)
            key.role = "member"
            key.save()
        else:
            tenant.is_active = False
            tenant.save()
        return read_the_row(self, text)

    monkeypatch.setattr(ApiKey, "matches", another_process_changes_it_now)
    api_key_authenticate(plaintext)
    # Every later request, in this process or another (whose own copies were dropped too):
    keycache.forget_all()
    later = api_key_authenticate(plaintext)
    if change == "demote":
        assert later.role == "member"
    else:
        assert later is None


def test_a_listener_whose_connection_has_a_high_descriptor_keeps_copies(tenant):
    api_key, plaintext = api_key_create(tenant=tenant, name="busy")
    key_hash = api_key_hash(plaintext)
    # A busy process (many connections and files open) reconnects its listener on a descriptor
    # above 1023, which select() cannot watch.
    held = [os.open(os.devnull, os.O_RDONLY) for _ in range(1100)]
    try:
        listener = f"{keycache.LISTENER_NAME}:{os.getpid()}"
        api_key_authenticate(plaintext)
        deadline = time.monotonic() + 5
        while _listeners() < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        listeners = [c for c in get_redis().client_list(_type="pubsub") if c["name"] == listener]
        get_redis().client_kill_filter(_id=listeners[0]["id"])
        deadline = time.monotonic() + 10
        while keycache.local_get(key_hash) is None and time.monotonic() < deadline:
            api_key_authenticate(plaintext)
            time.sleep(0.05)

        assert keycache.local_get(key_hash) is not None
        api_key_revoke(api_key=api_key)
        deadline = time.monotonic() + 5
        while keycache.local_get(key_hash) is not None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert keycache.local_get(key_hash) is None
    finally:
        for descriptor in held:
            os.close(descriptor)
