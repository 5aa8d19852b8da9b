"""How PostgreSQL runs the queries a test captured, as it would at volume."""

from django.db import connection
from django.test.utils import CaptureQueriesContext


def query_plans(
    captured: CaptureQueriesContext,
    table: str,
    containing: str = "",
    *,
    off=("seqscan",),
    statement: str = "SELECT",
) -> list[str]:
    """The plans of the captured SELECTs from `table` (or UPDATEs of it: `statement`), those
    holding `containing`, once scanning the table costs more than an index (on a test's few rows
    PostgreSQL would rather scan), and whatever else is `off` (a sort: on many rows a page is read
    in order from an index)."""
    target = f'UPDATE "{table}"' if statement == "UPDATE" else f'FROM "{table}"'

    plans = []
    with connection.cursor() as cursor:
        for method in off:
            cursor.execute(f"SET LOCAL enable_{method} = off")
        for query in captured.captured_queries:
            sql = query["sql"]
            if sql.startswith(statement) and target in sql and containing in sql:
                cursor.execute(f"EXPLAIN {sql}")
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert plans
    return plans
