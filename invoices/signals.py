"""A draft's PDF shows its client and the workspace's name as they are: changing either, whoever
changes it (the API, the admin, a command), renders the drafts that show it again, once the change
has committed (the drafts are locked in turn then, not while the changed row is).

A worker loads the PDF renderer as it starts."""

from functools import partial
from importlib import import_module

from celery.signals import worker_init
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import Tenant
from invoices.models import Client
from invoices.services import invoice_pdfs_refresh


def _refresh_after_commit(invoices) -> None:
    transaction.on_commit(partial(invoice_pdfs_refresh, invoices=invoices), robust=True)


@receiver(post_save, sender=Client)
def _client_changed(sender, instance, created, **kwargs):
    if not created:
        _refresh_after_commit(instance.invoices.all())


@receiver(post_save, sender=Tenant)
def _tenant_changed(sender, instance, created, update_fields=None, **kwargs):
    if not created and (update_fields is None or "name" in update_fields):
        _refresh_after_commit(instance.invoices.all())


@worker_init.connect
def _renderer_load(**kwargs):
    """In the worker's main process, before it forks its pool: each pool process (and each one
    that replaces another after WORKER_MAX_TASKS_PER_CHILD tasks) starts with WeasyPrint loaded,
    and no render pays its import. Not in `worker_process_init`: that runs in every pool process,
    and Celery kills one whose start takes more than 4 s, which the import may on a busy host."""
    import_module("invoices.rendering")
