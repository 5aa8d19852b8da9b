"""A saved API key or tenant drops its cached keys, whoever saved it (a service, the admin): at once,
and again when the change commits, so that a request that read the old row meanwhile cannot keep it.
"""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import ApiKey, Tenant
from accounts.services import api_keys_uncache_with_change


@receiver([post_save, post_delete], sender=ApiKey)
def _api_key_changed(sender, instance, created=False, **kwargs):
    # A key just created has no copies anywhere.
    if not created:
        api_keys_uncache_with_change([instance.key_hash])


@receiver(post_save, sender=Tenant)
def _tenant_changed(sender, instance, created, **kwargs):
    if not created:
        api_keys_uncache_with_change(list(instance.api_keys.values_list("key_hash", flat=True)))
