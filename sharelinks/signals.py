"""A shared resource deleted takes its links out of use: they could only answer 404."""

from django.db.models import QuerySet
from django.db.models.signals import post_delete

from accounts.models import Tenant
from core.deletion import deleted_by, workspace_deleted
from sharelinks.resources import SHAREABLES
from sharelinks.services import share_links_resource_deleted


def _resource_deleted(sender, instance, origin=None, **kwargs):
    # A workspace deleted takes its links with it: in the admin (the workspace is the origin), or
    # by `delete_tenant`, a batch of each kind of its rows at a time (each batch is the origin).
    if (
        isinstance(origin, Tenant)
        or (isinstance(origin, QuerySet) and origin.model is Tenant)
        or instance.tenant_id == workspace_deleted()
    ):
        return
    for resource_type, shareable in SHAREABLES.items():
        if shareable.model is sender and (resource_id := shareable.gone(instance)) is not None:
            share_links_resource_deleted(
                tenant_id=instance.tenant_id,
                resource_type=resource_type,
                resource_id=resource_id,
                actor=deleted_by(),
            )


def resource_deletions_watch() -> None:
    for resource_type, shareable in SHAREABLES.items():
        post_delete.connect(
            _resource_deleted, sender=shareable.model, dispatch_uid=f"sharelinks:{resource_type}"
        )
