from django.db import migrations

from core.operations import AddSearchIndex


class Migration(migrations.Migration):
    # Built without locking the notifications, which the alerts write as they are raised.
    atomic = False

    dependencies = [
        ("accounts", "0011_search_indexes"),
    ]

    operations = [
        AddSearchIndex("notification", "title", "notification_title_search"),
        AddSearchIndex("notification", "alert_key", "notification_alert_key_search"),
    ]
