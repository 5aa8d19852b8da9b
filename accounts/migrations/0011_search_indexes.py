from django.db import migrations

from core.operations import AddSearchIndex


class Migration(migrations.Migration):
    # Built without locking the audit log and the ledger, which every request may write.
    atomic = False

    dependencies = [
        ("accounts", "0010_api_key_limit_help"),
        ("core", "0006_trigram_extension"),
    ]

    operations = [
        AddSearchIndex("auditevent", "resource_id", "auditevent_resource_id_search"),
        AddSearchIndex("auditevent", "actor_label", "auditevent_actor_search"),
        AddSearchIndex("creditentry", "reason", "creditentry_reason_search"),
    ]
