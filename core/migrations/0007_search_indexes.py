from django.db import migrations

from core.operations import AddSearchIndex


class Migration(migrations.Migration):
    # Built without locking the idempotency records, which requests write.
    atomic = False

    dependencies = [
        ("core", "0006_trigram_extension"),
    ]

    operations = [
        AddSearchIndex("idempotencyrecord", "key", "idempotencyrecord_key_search"),
    ]
