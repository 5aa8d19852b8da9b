"""Files stored beside rows: a row's file goes when the row does, and a file no row names (a worker
killed between storing it and committing its row, a storage that failed when asked to delete it)
goes with `manage.py clean_storage`."""

import posixpath
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from functools import partial

from django.apps import apps
from django.core.files.storage import default_storage
from django.db import transaction
from django.db.models import FileField
from django.db.models.signals import post_delete
from django.utils import timezone


def files_deleted_with_rows(model, field_name: str) -> None:
    """However a row of `model` is deleted (a service, the admin, a cascade, a workspace deleted a
    batch at a time), the file its `field_name` names is deleted from the storage too, once the
    deletion has committed: a deletion rolled back keeps both. A storage that fails then is
    logged, and leaves the file, not the row."""
    field = model._meta.get_field(field_name)

    def file_delete(sender, instance, **kwargs):
        if name := getattr(instance, field.attname).name:
            transaction.on_commit(partial(field.storage.delete, name), robust=True)

    post_delete.connect(
        file_delete, sender=model, weak=False, dispatch_uid=f"{model._meta.label}.{field_name}"
    )


@dataclass
class StorageCleanup:
    kept_named: int = 0
    kept_recent: int = 0
    deleted: int = 0
    bytes_freed: int = 0
    failed: int = 0


def stored_orphans_delete(
    *,
    older_than: timedelta,
    dry_run: bool = False,
    deleted: Callable[[str, int], None] = lambda name, size: None,
    failed: Callable[[str, Exception], None] = lambda name, exc: None,
) -> StorageCleanup:
    """Delete from the default storage every file, in the folders the project's file fields store
    in, that no row names and that was last modified more than `older_than` ago: a file being
    stored now has no row yet. `deleted` hears of each file deleted (or, with `dry_run`, that
    would be), `failed` of each the storage could not look at or delete, which is skipped."""
    result = StorageCleanup()
    cutoff = timezone.now() - older_than
    old = []
    for name in _files_stored(default_storage, _folders_stored()):
        try:
            modified = default_storage.get_modified_time(name)
        except FileNotFoundError:
            continue  # Deleted since it was listed (its row was).
        except Exception as exc:  # Whatever the backend raises (OSError, botocore's errors).
            result.failed += 1
            failed(name, exc)
            continue
        if modified < cutoff:
            old.append(name)
        else:
            result.kept_recent += 1
    # Read after the walk: a row committed while the storage was listed names its file here.
    named = _file_names_recorded()
    for name in old:
        if name in named:
            result.kept_named += 1
        else:
            _orphan_delete(name, dry_run, result, deleted, failed)
    return result


def _orphan_delete(name, dry_run, result, deleted, failed) -> None:
    try:
        size = default_storage.size(name)
        if not dry_run:
            default_storage.delete(name)
    except FileNotFoundError:
        return
    except Exception as exc:
        result.failed += 1
        failed(name, exc)
        return
    result.deleted += 1
    result.bytes_freed += size
    deleted(name, size)


def _file_fields() -> list[tuple]:
    """Every file field of the project's models that stores in the default storage."""
    return [
        (model, field)
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if isinstance(field, FileField) and field.storage is default_storage
    ]


def _folders_stored() -> list[str]:
    """The top folders the file fields store in (`generations`, `invoices`); never the storage's
    root, which may hold files of others."""
    folders = {
        field.upload_to.strip("/").split("/")[0]
        for _, field in _file_fields()
        if isinstance(field.upload_to, str)
    }
    return sorted(folder for folder in folders if folder)


def _file_names_recorded() -> set[str]:
    """The names every row of every file field holds, in one query: a single snapshot, so a file
    that passes from one row to another (a drawn image becoming a generated image's) is seen
    named by one or the other."""
    queries = [
        model._base_manager.exclude(**{field.attname: ""})
        .order_by()
        .values_list(field.attname, flat=True)
        for model, field in _file_fields()
    ]
    if not queries:
        return set()
    return set(queries[0].union(*queries[1:]))


def _files_stored(storage, folders: list[str]) -> Iterator[str]:
    """The names of the files under `folders`, in order, walked with `listdir` (a bucket has no
    folders, only prefixes; django-storages lists them as folders)."""
    for folder in folders:
        try:
            subfolders, files = storage.listdir(folder)
        except FileNotFoundError:
            continue  # Nothing ever stored there.
        yield from (posixpath.join(folder, name) for name in sorted(files))
        yield from _files_stored(
            storage, [posixpath.join(folder, sub) for sub in sorted(subfolders)]
        )
