from django.db import migrations

from core.operations import AddSearchIndex


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("invoices", "0009_unit_price_four_decimals"),
        ("core", "0006_trigram_extension"),
    ]

    operations = [
        AddSearchIndex("invoice", "number", "invoice_number_search"),
        AddSearchIndex("invoice", "notes", "invoice_notes_search"),
    ]
