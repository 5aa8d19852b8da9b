"""A saved API key or tenant drops its cached keys, whoever saved it (a service, the admin)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import ApiKey, Tenant
from accounts.services import api_keys_uncache


@receiver([post_save, post_delete], sender=ApiKey)
def _api_key_changed(sender, instance, **kwargs):
    api_keys_uncache([instance])


@receiver(post_save, sender=Tenant)
def _tenant_changed(sender, instance, created, **kwargs):
    if not created:
        api_keys_uncache(instance.api_keys.only("key_hash"))
