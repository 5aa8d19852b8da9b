"""The migrations that drop a written table's field indexes build them again, when reverted,
without stopping the table's writes."""

import re
from io import StringIO

import pytest
from django.core.management import call_command

# sqlmigrate runs outside the test's transaction: a concurrent build may not run in one.
# Each migration that drops field indexes with RemoveFieldIndexWithoutLocking.
MIGRATIONS = [
    ("accounts", "0007"),
    ("budgets", "0006"),
    ("sharelinks", "0004"),
    ("jobs", "0010"),
]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("app", "name"), MIGRATIONS)
def test_a_reverted_index_migration_builds_every_index_concurrently(app, name):
    out = StringIO()
    call_command("sqlmigrate", app, name, "--backwards", stdout=out)

    built = re.findall(r"^CREATE INDEX.*$", out.getvalue(), re.M)
    assert built
    assert all(sql.startswith("CREATE INDEX CONCURRENTLY ") for sql in built), built
