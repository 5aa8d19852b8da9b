from django.db import migrations, models

from core.operations import AddIndexWithoutLocking


class Migration(migrations.Migration):
    # Built without locking the table: the sweeper and the reaper record a run every minute.
    atomic = False

    dependencies = [
        ("jobs", "0014_beatseen"),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name="taskrun",
            index=models.Index(fields=["started_at", "id"], name="taskrun_started_idx"),
        ),
    ]
