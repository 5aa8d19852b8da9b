"""Jobs written and read with a plain cursor, for the engine's hottest statements (the submit's
insert, the status poll, the claim).

A queryset compiles its SQL, describes the columns and looks up their converters on every query,
which costs more than such a query itself; here the statements' column lists and the converters are
built once per database, and values are prepared and converted by the fields themselves.
"""

import functools

from django.db import connection, connections
from django.utils import timezone

from jobs.models import Job

_FIELDS = Job._meta.concrete_fields
_ATTNAMES = [field.attname for field in _FIELDS]


@functools.cache
def job_columns(alias: str, table: str = "") -> str:
    """Every column of a job, in the order job_from_row reads them, optionally table-qualified."""
    quote = connections[alias].ops.quote_name
    prefix = f"{table}." if table else ""
    return ", ".join(f"{prefix}{quote(field.column)}" for field in _FIELDS)


@functools.cache
def job_insert_sql(alias: str) -> str:
    """An INSERT of every column of a job; job_insert_values gives its parameters."""
    placeholders = ", ".join(["%s"] * len(_FIELDS))
    return f"INSERT INTO {Job._meta.db_table} ({job_columns(alias)}) VALUES ({placeholders})"


def job_insert_values(job: Job) -> list:
    """A new job's values as Model.save would write them (auto_now fields set, values prepared)."""
    return [field.get_db_prep_save(field.pre_save(job, True), connection) for field in _FIELDS]


@functools.cache
def _converters(alias: str) -> list[tuple]:
    """Per column, the database's and the field's converters, as a queryset applies them."""
    db = connections[alias]
    converters = []
    for field in _FIELDS:
        column = field.get_col(Job._meta.db_table)
        converters.append((column, db.ops.get_db_converters(column) + column.get_db_converters(db)))
    return converters


def job_from_row(row) -> Job:
    """A Job from a row that starts with job_columns(); any further columns are ignored."""
    db = connection
    values = []
    for value, (column, converters) in zip(row, _converters(db.alias), strict=False):
        for converter in converters:
            value = converter(value, column, db)
        values.append(value)
    return Job.from_db(db.alias, _ATTNAMES, values)


def job_attempt_row(job: Job, attempt: int):
    """The job's row while this attempt of it runs: processing, the same attempt number and the
    same claim. The claim's started_at tells it apart from a later attempt of the same number (a
    job requeued with fresh attempts, or handed back to wait), whose worker must not be disturbed
    by an earlier one that comes back."""
    return Job.objects.filter(
        pk=job.pk, status=Job.Status.PROCESSING, attempts=attempt, started_at=job.started_at
    )


@functools.cache
def _owned_update_sql(alias: str, names: tuple[str, ...]) -> str:
    quote = connections[alias].ops.quote_name
    assignments = ", ".join(f"{quote(Job._meta.get_field(name).column)} = %s" for name in names)
    return (
        f"UPDATE {Job._meta.db_table} SET {assignments} WHERE id = %s AND status = %s"
        " AND attempts = %s AND started_at = %s AND NOT cancel_requested"
    )


def job_update_if_owned(job: Job, attempt: int, **values) -> bool:
    """Write `values` to the job's row if this attempt of it still runs (job_attempt_row, and no
    cancel asked): a worker's progress and completion writes, prepared once."""
    values.setdefault("updated_at", timezone.now())
    names = tuple(values)
    params = [
        Job._meta.get_field(name).get_db_prep_save(value, connection)
        for name, value in values.items()
    ]
    params += [
        Job._meta.pk.get_db_prep_value(job.pk, connection),
        Job.Status.PROCESSING,
        attempt,
        Job._meta.get_field("started_at").get_db_prep_value(job.started_at, connection),
    ]
    with connection.cursor() as cursor:
        cursor.execute(_owned_update_sql(connection.alias, names), params)
        return cursor.rowcount == 1
