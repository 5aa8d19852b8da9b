"""Replay records kept before secrets were left out of them held share links' URLs: forget those."""

from django.db import migrations

BATCH = 500


def forget_share_links(apps, schema_editor):
    IdempotencyRecord = apps.get_model("core", "IdempotencyRecord")
    records = IdempotencyRecord.objects.filter(response_body__has_key="url").only("response_body")
    for record in records.iterator(chunk_size=BATCH):
        url = record.response_body.get("url")
        if isinstance(url, str) and "/s/" in url:
            record.response_body["url"] = None
            record.save(update_fields=["response_body"])


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial")]

    operations = [migrations.RunPython(forget_share_links, migrations.RunPython.noop)]
