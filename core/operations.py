"""Migration operations for the tables that are written all the time."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db.migrations.operations import AddIndex


class AddIndexWithoutLocking(AddIndexConcurrently):
    """An index built on PostgreSQL with CREATE INDEX CONCURRENTLY, so that a deploy does not stop
    the table's writes (job submits, claims) while it is built; its migration is `atomic = False`.
    Elsewhere (the embedded SQLite default) it is built as AddIndex builds it."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)
