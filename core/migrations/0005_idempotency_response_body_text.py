"""Replay records keep the response's JSON as text, its keys in their order (jsonb sorts them)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("core", "0004_idempotency_response_body_encoder")]

    operations = [
        migrations.AlterField(
            model_name="idempotencyrecord",
            name="response_body",
            field=models.TextField(blank=True, default=""),
        ),
        # Reverted, an in-flight record's empty body becomes JSON's null (JSON, unlike "").
        migrations.RunSQL(
            migrations.RunSQL.noop,
            reverse_sql="UPDATE core_idempotencyrecord SET response_body = 'null' "
            "WHERE response_body = ''",
        ),
    ]
