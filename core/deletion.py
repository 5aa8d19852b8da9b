"""Deleting many rows, with what cascades from them, a batch at a time."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from django.db.models import QuerySet

DELETE_BATCH = 1000
_workspace_deleted: ContextVar[int | None] = ContextVar("workspace_deleted", default=None)
_deleted_by: ContextVar[object | None] = ContextVar("deleted_by", default=None)


@contextmanager
def deletion_by(actor) -> Iterator[None]:
    """While `actor` (a staff user, an API key, an operator) deletes rows: what reacts to a row
    deleted (post_delete) and records it asks deleted_by() whom to name."""
    reset = _deleted_by.set(actor)
    try:
        yield
    finally:
        _deleted_by.reset(reset)


def deleted_by():
    """Who deletes the rows deleted here (deletion_by); None: the product itself."""
    return _deleted_by.get()


@contextmanager
def workspace_deletion(tenant_id: int) -> Iterator[None]:
    """While the workspace's rows are deleted, batch after batch: what reacts to a row deleted
    (post_delete) asks workspace_deleted() to know that the whole workspace goes."""
    reset = _workspace_deleted.set(tenant_id)
    try:
        yield
    finally:
        _workspace_deleted.reset(reset)


def workspace_deleted() -> int | None:
    """The id of the workspace being deleted here (workspace_deletion), if any."""
    return _workspace_deleted.get()


def delete_in_batches(rows: QuerySet, *, progress: Callable[[int], object] | None = None) -> int:
    """Delete `rows`, with what cascades from them, DELETE_BATCH at a time (each batch its own
    transaction unless the caller holds one) and return how many went; `progress` hears the
    running count after each batch. One delete() fails past 65,535 rows: Django's deletion
    collector names every collected row in one statement (and joins its SET_NULL updates into
    one), and PostgreSQL takes at most 65,535 parameters a statement with server-side binding."""
    deleted = 0
    # Unordered: the model's ordering would walk the rows kept to reach the first rows to go.
    while ids := list(rows.order_by().values_list("pk", flat=True)[:DELETE_BATCH]):
        # Through `rows` again: a row that changed since the SELECT (a job requeued) stays.
        _, per_model = rows.filter(pk__in=ids).delete()
        deleted += per_model.get(rows.model._meta.label, 0)
        if progress is not None:
            progress(deleted)
    return deleted
