"""The migrations that drop a written table's field indexes build them again, when reverted,
without stopping the table's writes."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection
from django.db.migrations.executor import MigrationExecutor

from tests.factories import TenantFactory

# sqlmigrate runs outside the test's transaction: a concurrent build may not run in one.
# Each migration that drops field indexes with RemoveFieldIndexWithoutLocking.
MIGRATIONS = [
    ("accounts", "0007"),
    ("budgets", "0006"),
    ("sharelinks", "0004"),
    ("jobs", "0010"),
    # And the one that drops indexes another now covers (RemoveIndexWithoutLocking).
    ("jobs", "0012"),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("app", "name"), MIGRATIONS)
def test_a_reverted_index_migration_builds_every_index_concurrently(app, name):
    out = StringIO()
    call_command("sqlmigrate", app, name, "--backwards", stdout=out)

    built = re.findall(r"^CREATE INDEX.*$", out.getvalue(), re.M)
    assert built
    assert all(sql.startswith("CREATE INDEX CONCURRENTLY ") for sql in built), built


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("app", "name"),
    [
        ("accounts", "0011"),
        ("accounts", "0012"),
        ("budgets", "0007"),
        ("core", "0007"),
        ("generations", "0006"),
        ("invoices", "0010"),
        ("jobs", "0013"),
        ("sharelinks", "0007"),
    ],
)
def test_the_search_indexes_are_trigram_indexes_built_concurrently(app, name):
    out = StringIO()
    call_command("sqlmigrate", app, name, stdout=out)

    built = re.findall(r"^CREATE INDEX.*$", out.getvalue(), re.M)
    assert built
    for sql in built:
        assert sql.startswith("CREATE INDEX CONCURRENTLY "), sql
        # As the admin's search compares the column: UPPER(column::text) LIKE UPPER('%term%').
        assert re.search(r"USING gin \(\(UPPER\(\"\w+\"::text\)\) gin_trgm_ops\)", sql), sql


def _index(name):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " JOIN pg_class c ON c.oid = i.indexrelid WHERE c.relname = %s",
            [name],
        )
        return cursor.fetchone()


def _build_stopped(name, table):
    """What a concurrent build stopped half way leaves (Ctrl-C, a statement timeout): an invalid
    index of the name. A unique build over two equal rows stops the same way."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE UNIQUE INDEX CONCURRENTLY {name} ON {table} ((1))")


@pytest.fixture
def jobs_before_0010():
    call_command("migrate", "jobs", "0009", verbosity=0)
    yield
    call_command("migrate", verbosity=0)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("left", ["stopped", "built"])
def test_a_stopped_index_migration_runs_again(jobs_before_0010, left):
    TenantFactory.create_batch(2)  # the stopped unique build finds two rows
    if left == "stopped":
        with pytest.raises(IntegrityError):
            _build_stopped("job_type_idx", "accounts_tenant")
        assert _index("job_type_idx")[0] is False
    else:
        with connection.cursor() as cursor:
            cursor.execute("CREATE INDEX job_type_idx ON jobs_job (type)")

    call_command("migrate", verbosity=0)

    valid, definition = _index("job_type_idx")
    assert valid
    assert definition.endswith("ON public.jobs_job USING btree (type)")
    assert _index("job_retry_of_idx")[0]


@pytest.mark.django_db(transaction=True)
def test_a_stopped_index_revert_runs_again():
    TenantFactory.create_batch(2)
    with pytest.raises(IntegrityError):
        _build_stopped("jobs_job_type_6a80b3ef", "accounts_tenant")
    try:
        call_command("migrate", "jobs", "0009", verbosity=0)

        valid, definition = _index("jobs_job_type_6a80b3ef")
        assert valid
        assert definition.endswith("ON public.jobs_job USING btree (type)")
    finally:
        call_command("migrate", verbosity=0)


def _extensions():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extname FROM pg_extension")
        return {name for (name,) in cursor.fetchall()}


@pytest.mark.django_db(transaction=True)
def test_migrating_back_leaves_pg_trgm_a_superuser_created():
    """The database's user may not create pg_trgm: a superuser did, and only its owner may drop
    it. Migrating core back past it must not stop there."""
    executor = MigrationExecutor(connection)
    target = ("core", "0006_trigram_extension")
    operation = executor.loader.get_migration(*target).operations[0]
    state = executor.loader.project_state(target)
    role = f"{connection.settings_dict['NAME']}_user"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role}")
        cursor.execute(f"SET ROLE {role}")
    try:
        with connection.schema_editor(atomic=False) as editor:
            operation.database_backwards("core", editor, state, state)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")
            cursor.execute(f"DROP ROLE {role}")

    assert "pg_trgm" in _extensions()
