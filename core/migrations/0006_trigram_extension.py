"""pg_trgm, for the admin's search indexes (core.operations.AddSearchIndex). It is a trusted
extension: the database's owner creates it; a user who may not (no CREATE on the database) needs
it created once by a superuser: `CREATE EXTENSION pg_trgm;`."""

from django.contrib.postgres.operations import TrigramExtension
from django.db import migrations


class TrigramExtensionOnPostgres(TrigramExtension):
    """Nothing happens on SQLite, the embedded default, either way: Django's own operation
    leaves SQLite alone going forwards, but asks it for its extensions going back."""

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)


class Migration(migrations.Migration):
    dependencies = [("core", "0005_idempotency_response_body_text")]

    operations = [TrigramExtensionOnPostgres()]
