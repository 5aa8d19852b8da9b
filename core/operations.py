"""Migration operations for the tables that are written all the time."""

from functools import partial

from django.contrib.postgres.operations import (
    AddIndexConcurrently,
    NotInTransactionMixin,
    RemoveIndexConcurrently,
)
from django.db.migrations.operations import AddIndex, AlterField, RemoveIndex
from django.db.migrations.operations.base import Operation
from django.db.models import Index


def _index_left(schema_editor, name: str) -> bool | None:
    """Whether an index of this name is there already, left by an earlier run of its migration
    (which is `atomic = False`, so that what it did stays done when it stops half way): True when
    it was built, False when its concurrent build was stopped (Ctrl-C, a statement timeout, a lost
    connection), which leaves an invalid index that PostgreSQL keeps writing but never reads, and
    None when there is none."""
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(
            "SELECT i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace",
            [name],
        )
        row = cursor.fetchone()
    return None if row is None else row[0]


def _index_build(schema_editor, name: str, build) -> None:
    """Build an index concurrently with `build()`, so that a migration stopped half way can be run
    again: an index of the name already built is kept, one left invalid is dropped and built
    again. `sqlmigrate` (which collects the SQL) is shown every statement."""
    if not schema_editor.collect_sql:
        built = _index_left(schema_editor, name)
        if built:
            return
        if built is False:
            schema_editor.execute(
                f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(name)}"
            )
    build()


class AddIndexWithoutLocking(AddIndexConcurrently):
    """An index built on PostgreSQL with CREATE INDEX CONCURRENTLY, so that a deploy does not stop
    the table's writes (job submits, claims) while it is built; its migration is `atomic = False`.
    Elsewhere (the embedded SQLite default) it is built as AddIndex builds it."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return _index_build(
                schema_editor,
                self.index.name,
                lambda: super(AddIndexWithoutLocking, self).database_forwards(
                    app_label, schema_editor, from_state, to_state
                ),
            )
        return AddIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_backwards(app_label, schema_editor, from_state, to_state)
        return AddIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


class RemoveIndexWithoutLocking(RemoveIndexConcurrently):
    """An index dropped on PostgreSQL with DROP INDEX CONCURRENTLY (once another replaces it),
    without waiting for the table's writes nor stopping them; its migration is `atomic = False`.
    Elsewhere it is dropped as RemoveIndex drops it."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return super().database_forwards(app_label, schema_editor, from_state, to_state)
        return RemoveIndex.database_forwards(self, app_label, schema_editor, from_state, to_state)

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if schema_editor.connection.vendor == "postgresql":
            return _index_build(
                schema_editor,
                self.name,
                lambda: super(RemoveIndexWithoutLocking, self).database_backwards(
                    app_label, schema_editor, from_state, to_state
                ),
            )
        return RemoveIndex.database_backwards(self, app_label, schema_editor, from_state, to_state)


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
        statements = [schema_editor._create_index_sql(model, fields=[field], concurrently=True)]
        if like := schema_editor._create_like_index_sql(model, field):
            like.template = schema_editor.sql_create_index_concurrently
            statements.append(like)
        for statement in statements:
            name = str(statement.parts["name"]).strip('"')
            _index_build(schema_editor, name, partial(schema_editor.execute, statement))


class AddSearchIndex(NotInTransactionMixin, Operation):
    """A trigram index (pg_trgm's gin_trgm_ops) of a text column as the admin's search compares
    it, UPPER(column): Django's icontains, iexact and istartswith find their rows there rather
    than reading the whole table. Built on PostgreSQL with CREATE INDEX CONCURRENTLY, so the
    table's writes go on meanwhile (its migration is `atomic = False`, after TrigramExtension).

    It is kept out of the models' state, and SQLite (the embedded default, whose tables stay
    small) gets none: SQLite rebuilds a table to alter it, with every index the state declares."""

    reversible = True

    def __init__(self, model_name: str, field_name: str, name: str):
        self.model_name = model_name
        self.field_name = field_name
        self.name = name

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        model = to_state.apps.get_model(app_label, self.model_name)
        if not self._applies(schema_editor, model):
            return
        self._ensure_not_in_transaction(schema_editor)
        quote = schema_editor.quote_name
        column = model._meta.get_field(self.field_name).column
        sql = (
            f"CREATE INDEX CONCURRENTLY {quote(self.name)} ON {quote(model._meta.db_table)}"
            f" USING gin ((UPPER({quote(column)}::text)) gin_trgm_ops)"
        )
        _index_build(schema_editor, self.name, partial(schema_editor.execute, sql))
        # The statistics of the index's expression, gathered from now on, tell the planner how
        # many rows a search finds: without them it may walk a whole list's order instead.
        schema_editor.execute(f"ANALYZE {quote(model._meta.db_table)}")

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        if not self._applies(schema_editor, from_state.apps.get_model(app_label, self.model_name)):
            return
        self._ensure_not_in_transaction(schema_editor)
        schema_editor.execute(
            f"DROP INDEX CONCURRENTLY IF EXISTS {schema_editor.quote_name(self.name)}"
        )

    def _applies(self, schema_editor, model) -> bool:
        return schema_editor.connection.vendor == "postgresql" and self.allow_migrate_model(
            schema_editor.connection.alias, model
        )

    def describe(self):
        return f"Create search index {self.name} on {self.model_name}.{self.field_name}"

    @property
    def migration_name_fragment(self):
        return self.name.lower()
