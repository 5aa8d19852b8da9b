from django.db import migrations

from core.operations import AddSearchIndex


class Migration(migrations.Migration):
    # Built without locking the links, which every view of one writes.
    atomic = False

    dependencies = [
        ("sharelinks", "0006_end_links_of_deleted_resources"),
        ("core", "0006_trigram_extension"),
    ]

    operations = [
        AddSearchIndex("publiclink", "token_prefix", "publiclink_prefix_search"),
        AddSearchIndex("publiclink", "resource_id", "publiclink_resource_id_search"),
    ]
