from django.core.cache import cache
from django.db import migrations, models
from django.db.migrations.exceptions import IrreversibleError
from django.db.models import Q
from django.utils import timezone

BATCH = 1000
NAMED = 20


def zero_limits_to_default(apps, schema_editor):
    """A key's limit of 0 meant "the default" before 0 stopped its submissions: a key saved with 0
    keeps submitting as it did, under the default."""
    ApiKey = apps.get_model("accounts", "ApiKey")
    for field in ("rate_limit_per_minute", "rate_limit_per_day"):
        ApiKey.objects.filter(**{field: 0}).update(**{field: None})


def zero_limits_kept(apps, schema_editor):
    """Back in the release before, a key's 0 means the default again: a key stopped since with a
    limit of 0 would submit again. Refuse while one is usable, naming them."""
    ApiKey = apps.get_model("accounts", "ApiKey")
    now = timezone.now()
    stopped = (
        ApiKey.objects.filter(Q(rate_limit_per_minute=0) | Q(rate_limit_per_day=0))
        .filter(revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))
        .order_by("tenant__slug", "prefix")
    )
    count = stopped.count()
    if not count:
        return
    named = ", ".join(
        f"{slug} ofl_{prefix}"
        for slug, prefix in stopped.values_list("tenant__slug", "prefix")[:NAMED]
    )
    more = f" and {count - NAMED} more" if count > NAMED else ""
    raise IrreversibleError(
        "Keys stopped with a limit of 0 would submit again under the release before, which reads "
        "0 as the default: revoke them (manage.py revoke_api_key) or give them a limit, then "
        f"migrate again ({count}): {named}{more}."
    )


def cached_keys_forget(apps, schema_editor):
    """Authentication shares each key's row in the cache for API_KEY_CACHE_SECONDS: a copy read
    before the update above still holds its 0, which now stops the key. Run after that update has
    committed (the migration is not atomic), so that no copy read before it is left; a cache out
    of reach fails the migration, which runs again from the start."""
    ApiKey = apps.get_model("accounts", "ApiKey")
    hashes = list(ApiKey.objects.values_list("key_hash", flat=True))
    for start in range(0, len(hashes), BATCH):
        # The cache keys of every release so far (accounts.services.api_key_cache_key): pickled
        # copies, then JSON ones.
        batch = hashes[start : start + BATCH]
        cache.delete_many(
            [f"api-key:{key_hash}" for key_hash in batch]
            + [f"api-key-json:{key_hash}" for key_hash in batch]
        )


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("accounts", "0009_notification_kind_choices"),
    ]

    operations = [
        migrations.RunPython(zero_limits_to_default, zero_limits_kept, atomic=True),
        migrations.RunPython(cached_keys_forget, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="apikey",
            name="rate_limit_per_day",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Overrides RATE_LIMIT_PER_DAY for this key; 0 stops its job submissions.",
                null=True,
            ),
        ),
        migrations.AlterField(
            model_name="apikey",
            name="rate_limit_per_minute",
            field=models.PositiveIntegerField(
                blank=True,
                help_text="Overrides RATE_LIMIT_PER_MINUTE for this key; 0 stops its job submissions.",
                null=True,
            ),
        ),
    ]
