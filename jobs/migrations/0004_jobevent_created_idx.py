from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """Workers write job events all the time: PostgreSQL builds the index without holding their
    writes; SQLite (the embedded default) has no such option and builds it the plain way."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        self._way(schema_editor).database_forwards(
            self, app_label, schema_editor, from_state, to_state
        )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        self._way(schema_editor).database_backwards(
            self, app_label, schema_editor, from_state, to_state
        )

    @staticmethod
    def _way(schema_editor) -> type[migrations.AddIndex]:
        if schema_editor.connection.vendor == "postgresql":
            return AddIndexConcurrently
        return migrations.AddIndex


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("jobs", "0003_jobevent_started"),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name="jobevent",
            index=models.Index(fields=["created_at", "id"], name="jobevent_created_idx"),
        ),
    ]
