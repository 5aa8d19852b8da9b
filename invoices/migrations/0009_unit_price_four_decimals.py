"""Unit prices take four decimals, for any currency (1.250 KWD, 0.0125 EUR). Prices stored before
keep their value. The release before stores two: migrating back refuses while a price has more,
which it would round, and names the invoices that hold them."""

from django.db import migrations, models
from django.db.migrations.exceptions import IrreversibleError
from django.db.models import Count
from django.db.models.functions import Round

NAMED = 20


def prices_of_more_than_two_decimals_refused(apps, schema_editor):
    InvoiceLine = apps.get_model("invoices", "InvoiceLine")
    if schema_editor.connection.vendor == "postgresql":
        # Narrowing the column takes this lock anyway: taken before the check, no line priced
        # meanwhile by the release still running is rounded unseen.
        table = schema_editor.quote_name(InvoiceLine._meta.db_table)
        schema_editor.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
    finer = InvoiceLine.objects.exclude(unit_price=Round("unit_price", 2))
    count = finer.count()
    if not count:
        return
    invoices = (
        finer.values("invoice__tenant__slug", "invoice__number")
        .annotate(lines=Count("pk"))
        .order_by("invoice__tenant__slug", "invoice__number")
    )
    total = invoices.count()
    named = ", ".join(
        f"{row['invoice__tenant__slug']} {row['invoice__number']} ({row['lines']})"
        for row in invoices[:NAMED]
    )
    more = f" and {total - NAMED} more" if total > NAMED else ""
    raise IrreversibleError(
        "Unit prices of more than two decimals would be rounded by the release before, which "
        "stores two: change those lines or delete their invoices while they are drafts (a sent "
        "invoice's prices change only in the database), then migrate again. "
        f"Lines: {count}, on these invoices (workspace, number, lines): {named}{more}."
    )


class Migration(migrations.Migration):
    dependencies = [("invoices", "0008_text_without_controls")]

    operations = [
        migrations.AlterField(
            model_name="invoiceline",
            name="unit_price",
            field=models.DecimalField(decimal_places=4, max_digits=16),
        ),
        # After the widening: migrating back, the check runs first, then the column narrows.
        migrations.RunPython(migrations.RunPython.noop, prices_of_more_than_two_decimals_refused),
    ]
