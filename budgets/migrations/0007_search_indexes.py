from django.db import migrations

from core.operations import AddSearchIndex


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("budgets", "0006_entries_tenant_newest"),
        ("core", "0006_trigram_extension"),
    ]

    operations = [
        AddSearchIndex("timeentry", "description", "timeentry_description_search"),
        AddSearchIndex("materialentry", "description", "materialentry_description_search"),
    ]
