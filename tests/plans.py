"""How PostgreSQL runs the queries a test captured, as it would at volume."""

from django.db import connection
from django.test.utils import CaptureQueriesContext


def query_plans(captured: CaptureQueriesContext, table: str, containing: str = "") -> list[str]:
    """The plans of the captured SELECTs from `table` (those holding `containing`) once scanning
    the table costs more than an index (on a test's few rows PostgreSQL would rather scan)."""
    plans = []
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for query in captured.captured_queries:
            sql = query["sql"]
            if sql.startswith("SELECT") and f'FROM "{table}"' in sql and containing in sql:
                cursor.execute(f"EXPLAIN {sql}")
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert plans
    return plans
