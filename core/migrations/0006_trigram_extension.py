"""pg_trgm, for the admin's search indexes (core.operations.AddSearchIndex). It is a trusted
extension: the database's owner creates it; a user who may not (no CREATE on the database) needs
it created once by a superuser: `CREATE EXTENSION pg_trgm;`, and migrating back leaves it there."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class TrigramExtensionOnPostgres(TrigramExtension):
    """Nothing happens on SQLite, the embedded default, either way: Django's own operation
    leaves SQLite alone going forwards, but asks it for its extensions going back. Going back,
    pg_trgm is dropped only by its owner: one a superuser created (the database's user may not)
    stays, where DROP EXTENSION would stop the rollback with "must be owner of extension"."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql" and _owned(schema_editor):
            super().database_backwards(app_label, schema_editor, from_state, to_state)


def _owned(schema_editor) -> bool:
    """Whether the database's user owns pg_trgm (or is a superuser)."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_has_role(extowner, 'MEMBER') FROM pg_extension WHERE extname = 'pg_trgm'"
        )
        row = cursor.fetchone()
    return bool(row and row[0])


class Migration(migrations.Migration):
    dependencies = [("core", "0005_idempotency_response_body_text")]

    operations = [TrigramExtensionOnPostgres()]
