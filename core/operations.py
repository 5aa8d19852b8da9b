"""Migration operations for the tables that are written all the time."""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db.migrations.operations import AddIndex, AlterField
from django.db.models import Index


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


class RemoveFieldIndexWithoutLocking(AlterField):
    """A field altered to `db_index=False` because another index now leads with its column. On
    PostgreSQL its indexes (a text column's LIKE index too) are dropped with DROP INDEX
    CONCURRENTLY, and a foreign key's constraint is left alone: AlterField would drop the
    constraint and add it back, checking every row while the table's writes wait. Its migration
    is `atomic = False`. Elsewhere it is altered as AlterField does."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        model = from_state.apps.get_model(app_label, self.model_name)
        column = model._meta.get_field(self.name).column
        declared = {index.name for index in model._meta.indexes}
        for name in schema_editor._constraint_names(
            model, [column], index=True, type_=Index.suffix, exclude=declared
        ):
            schema_editor.execute(
                f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}"
            )

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor != "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        model = to_state.apps.get_model(app_label, self.model_name)
        field = model._meta.get_field(self.name)
        schema_editor.execute(
            schema_editor._create_index_sql(model, fields=[field], concurrently=True)
        )
        if like := schema_editor._create_like_index_sql(model, field):
            like.template = schema_editor.sql_create_index_concurrently
            schema_editor.execute(like)
