import django.db.models.deletion
from django.db import migrations, models

BATCH = 1000


def created_by_key_from_audit_log(apps, schema_editor):
    """Each key a key made through the API has its creation audited with that key as the actor
    (by id): the key made is the event's resource. A key made before creations were audited, or
    whose maker was deleted, is left without one."""
    ApiKey = apps.get_model("accounts", "ApiKey")
    AuditEvent = apps.get_model("accounts", "AuditEvent")
    made_by = dict(
        AuditEvent.objects.filter(
            resource_type="accounts.apikey", action="create", actor_type="api_key"
        ).values_list("resource_id", "actor_id")
    )
    tenants = dict(ApiKey.objects.values_list("pk", "tenant_id"))
    keys = []
    for key_id, maker_id in made_by.items():
        key_id, maker_id = int(key_id), int(maker_id)
        # Only a key of the same workspace, made before it, ever makes one.
        if key_id in tenants and tenants.get(maker_id) == tenants[key_id] and maker_id < key_id:
            keys.append(ApiKey(pk=key_id, created_by_key_id=maker_id))
    ApiKey.objects.bulk_update(keys, ["created_by_key"], batch_size=BATCH)


class Migration(migrations.Migration):
    # The keys are filled in and committed before the constraint is added: PostgreSQL adds none
    # to a table with changes whose foreign keys are still to be checked.
    atomic = False

    dependencies = [
        ("accounts", "0012_notification_search_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="created_by_key",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="keys_made",
                to="accounts.apikey",
            ),
        ),
        migrations.RunPython(created_by_key_from_audit_log, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="apikey",
            constraint=models.CheckConstraint(
                condition=models.Q(("created_by_key__lt", models.F("id"))),
                name="api_key_made_by_an_earlier_key",
            ),
        ),
    ]
