"""Files stored beside rows: a row's file goes when the row does."""

from functools import partial

from django.db import transaction
from django.db.models.signals import post_delete


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
