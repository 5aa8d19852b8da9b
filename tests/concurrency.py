"""Calls released together from several threads, for the races a test must win."""

import threading

from django.db import connection


def at_once(function, times: int) -> list:
    """Call `function` from `times` threads that start together; returns what each call returned,
    or the exception it raised, in the order they finished. Each thread closes its own database
    connection."""
    barrier, results = threading.Barrier(times), []

    def run():
        barrier.wait()
        try:
            results.append(function())
        except Exception as exc:  # noqa: BLE001 - the caller asserts on what each call did
            results.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(times)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def deleted_once_validated(monkeypatch, serializer_class, row) -> None:
    """Delete `row`, as a concurrent request would, right after `serializer_class` has validated
    a request that names it and before that request saves."""
    checked = serializer_class.validate

    def validate_then_delete(self, attrs):
        attrs = checked(self, attrs)
        type(row).objects.filter(pk=row.pk).delete()
        return attrs

    monkeypatch.setattr(serializer_class, "validate", validate_then_delete)


def sessions_where(condition: str) -> int:
    """How many sessions on the test database match a condition on pg_stat_activity, as they are
    now: also from inside a transaction, which would otherwise see the activity it first read."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            f"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND {condition}"
        )
        return cursor.fetchone()[0]


def sessions_waiting_for_a_lock() -> int:
    """How many sessions on the test database wait for a lock another one holds (a row's)."""
    return sessions_where("wait_event_type = 'Lock'")
