from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class AddIndexConcurrentlyOnPostgres(AddIndexConcurrently):
    """Workers write job events all the time: PostgreSQL builds the index without holding their
    writes; SQLite (the embedded default) has no such option and builds it the plain way."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_forwards(
                self, app_label, schema_editor, from_state, to_state
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
        else:
            migrations.AddIndex.database_backwards(
                self, app_label, schema_editor, from_state, to_state
            )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ('jobs', '0003_jobevent_started'),
    ]

    operations = [
        AddIndexConcurrentlyOnPostgres(
            model_name='jobevent',
            index=models.Index(fields=['created_at', 'id'], name='jobevent_created_idx'),
        ),
    ]
