from django.db import migrations, models

from core.operations import AddIndexWithoutLocking, RemoveIndexWithoutLocking


class Migration(migrations.Migration):
    # The new indexes are built without locking the table, then the ones they replace dropped.
    atomic = False

    dependencies = [
        ("accounts", "0006_credit_entry_newest_first"),
        ("jobs", "0011_worker_stopped_at"),
    ]

    operations = [
        AddIndexWithoutLocking(
            model_name="job",
            index=models.Index(
                fields=["status", "priority", "created_at"],
                include=("type",),
                name="job_queue_type_idx",
            ),
        ),
        AddIndexWithoutLocking(
            model_name="job",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["priority", "created_at"],
                include=("next_retry_at", "tenant", "waiting_since", "attempts"),
                name="job_pending_due_idx",
            ),
        ),
        RemoveIndexWithoutLocking(
            model_name="job",
            name="job_queue_idx",
        ),
        RemoveIndexWithoutLocking(
            model_name="job",
            name="job_pending_queue_idx",
        ),
    ]
