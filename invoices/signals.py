"""A draft's PDF shows its client and the workspace's name as they are: changing either, whoever
changes it (the API, the admin, a command), renders the drafts that show it again."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from accounts.models import Tenant
from invoices.models import Client
from invoices.services import invoice_pdfs_refresh


@receiver(post_save, sender=Client)
def _client_changed(sender, instance, created, **kwargs):
    if not created:
        invoice_pdfs_refresh(invoices=instance.invoices.all())


@receiver(post_save, sender=Tenant)
def _tenant_changed(sender, instance, created, update_fields=None, **kwargs):
    if not created and (update_fields is None or "name" in update_fields):
        invoice_pdfs_refresh(invoices=instance.invoices.all())
