"""Job types that only the engine's tests run. Worker processes started with
`extra_env=TEST_TYPES_ENV` import this module too (tests.jobs.worker_settings), so they know them."""

import time
from contextlib import nullcontext

from django.db import connection, transaction

from jobs.registry import JobType, job_type_register


def _sleep_in_the_database(ctx) -> dict:
    # Work that spends its time in one query (a big report, a lock wait): the time limit lands there.
    # With `in_transaction`, inside the handler's own transaction, where Django drops the connection
    # when the time limit lands, without a word to the server.
    atomic = transaction.atomic() if ctx.payload.get("in_transaction") else nullcontext()
    with atomic, connection.cursor() as cursor:
        cursor.execute("SELECT pg_sleep(%s)", [ctx.payload["seconds"]])
    return {}


SLEEP_IN_THE_DATABASE = job_type_register(
    JobType(
        name="test_sleep_in_the_database",
        handler=_sleep_in_the_database,
        max_attempts=2,
        time_limit=2,
    )
)


def _block(ctx) -> dict:
    # One long call that reports nothing (a model's answer, a render): no progress, no heartbeat.
    time.sleep(ctx.payload["seconds"])
    return ctx.complete({"slept": ctx.payload["seconds"]})


BLOCK = job_type_register(JobType(name="test_block", handler=_block, max_attempts=2))
