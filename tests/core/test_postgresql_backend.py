"""The database health check answers from the socket when the connection is idle and quiet, and
still notices a session the server has ended."""

import select
import time

import psycopg
import pytest
from django.db import connection, connections

pytestmark = pytest.mark.django_db(transaction=True)


def _admin_connection():
    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("prepare_threshold", None)
    return psycopg.connect(**params, autocommit=True)


def _backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _wait_until_unusable(wrapper) -> bool:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if not wrapper.is_usable():
            return True
        time.sleep(0.02)
    return False


@pytest.fixture
def fresh_connection():
    wrapper = connections.create_connection("default")
    yield wrapper
    wrapper.close()


def test_a_quiet_connection_is_checked_without_a_query(fresh_connection):
    pid = _backend_pid(fresh_connection)
    with _admin_connection() as admin:
        activity = "SELECT state_change, query FROM pg_stat_activity WHERE pid = %s"
        before = admin.execute(activity, [pid]).fetchone()
        for _ in range(5):
            assert fresh_connection.is_usable() is True
        assert admin.execute(activity, [pid]).fetchone() == before
        assert before[1] == "SELECT pg_backend_pid()"


def test_a_session_ended_by_the_server_fails_the_check(fresh_connection):
    pid = _backend_pid(fresh_connection)
    with _admin_connection() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    assert _wait_until_unusable(fresh_connection)


def test_the_first_query_after_the_server_ended_the_session_reconnects(fresh_connection):
    pid = _backend_pid(fresh_connection)
    with _admin_connection() as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    poller = select.poll()
    poller.register(fresh_connection.connection.fileno(), select.POLLIN)
    assert poller.poll(5000)

    fresh_connection.close_if_unusable_or_obsolete()  # what the start of each request and task does

    assert _backend_pid(fresh_connection) != pid
