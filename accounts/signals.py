"""A saved API key or tenant drops its cached keys, whoever saved it (a service, the admin): at once,
and again when the change commits, so that a request that read the old row meanwhile cannot keep it.
"""

from functools import partial

from django.db import transaction
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import ApiKey, Tenant
from accounts.services import api_keys_uncache


def _uncache(key_hashes: list[str]) -> None:
    # At once, inside the change's transaction: Redis out of reach rolls the change back. After
    # the commit only the race above is left to close, and a failure there is logged.
    api_keys_uncache(key_hashes)
    transaction.on_commit(partial(api_keys_uncache, key_hashes), robust=True)


@receiver([post_save, post_delete], sender=ApiKey)
def _api_key_changed(sender, instance, created=False, **kwargs):
    # A key just created has no copies anywhere.
    if not created:
        _uncache([instance.key_hash])


@receiver(post_save, sender=Tenant)
def _tenant_changed(sender, instance, created, **kwargs):
    if not created:
        _uncache(list(instance.api_keys.values_list("key_hash", flat=True)))
