from django.db import migrations
from django.utils import timezone

# The cleanup raised its failures alert under its own key, and the health check the same alert
# under "ops:cleanup-failures": staff got it twice. Both now use the latter; an alert still open
# under the old key is closed (the next health check raises it again if the failures remain).
OLD_KEY = "share-link-cleanup-failures"


def close_old_alerts(apps, schema_editor):
    Notification = apps.get_model("accounts", "Notification")
    Notification.objects.filter(alert_key=OLD_KEY, resolved_at__isnull=True).update(
        resolved_at=timezone.now()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0006_credit_entry_newest_first"),
        ("sharelinks", "0001_initial"),
    ]

    operations = [migrations.RunPython(close_old_alerts, migrations.RunPython.noop)]
