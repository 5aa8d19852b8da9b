"""Django's PostgreSQL backend, with a health check that costs no round trip.

Django checks a reused connection with `SELECT 1` before the first query of every request and of
every task (CONN_HEALTH_CHECKS): a round trip to the server on each. A server that ends a session
(a restart, `pg_terminate_backend`, an idle timeout) tells the client and closes the socket first,
so an idle connection that has nothing to read is a live one. Only when something is waiting on
the socket, or the connection is not idle, does the check ask the server with Django's own query.
"""

import select

from django.db.backends.postgresql import base
from psycopg import pq


class DatabaseWrapper(base.DatabaseWrapper):
    def is_usable(self):
        connection = self.connection
        if connection is None or connection.closed:
            return False
        if connection.pgconn.status != pq.ConnStatus.OK:
            return False
        if connection.info.transaction_status != pq.TransactionStatus.IDLE or _has_input(
            connection.fileno()
        ):
            return super().is_usable()
        return True


def _has_input(fileno: int) -> bool:
    poller = select.poll()
    poller.register(fileno, select.POLLIN | select.POLLERR | select.POLLHUP)
    return bool(poller.poll(0))
