from django.db import migrations, models


def zero_limits_to_default(apps, schema_editor):
    """A key's limit of 0 meant "the default" before 0 stopped its submissions: a key saved with 0
    keeps submitting as it did, under the default."""
    ApiKey = apps.get_model("accounts", "ApiKey")
    for field in ("rate_limit_per_minute", "rate_limit_per_day"):
        ApiKey.objects.filter(**{field: 0}).update(**{field: None})


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0009_notification_kind_choices"),
    ]

    operations = [
        migrations.RunPython(zero_limits_to_default, migrations.RunPython.noop),
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
