from django.db import migrations

from core.operations import AddSearchIndex


class Migration(migrations.Migration):
    # Built without stopping the workers, which write job events all the time.
    atomic = False

    dependencies = [
        ("jobs", "0012_job_indexes_for_the_dashboard"),
        ("core", "0006_trigram_extension"),
    ]

    operations = [
        AddSearchIndex("jobevent", "message", "jobevent_message_search"),
    ]
