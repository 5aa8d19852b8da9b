from django.db import migrations, models

CLIENT_DETAILS = ("name", "email", "address", "organisation_number", "vat_number")


def issued_invoices_keep_their_parties(apps, schema_editor):
    """Invoices already out of draft keep the seller and client they show today."""
    Invoice = apps.get_model("invoices", "Invoice")
    issued = (
        Invoice.objects.exclude(status="draft")
        .filter(parties__isnull=True)
        .select_related("tenant", "client")
        .order_by("pk")
    )
    batch = []
    for invoice in issued.iterator(chunk_size=1000):
        client = invoice.client
        invoice.parties = {
            "seller": invoice.tenant.name,
            "client": client and {name: getattr(client, name) for name in CLIENT_DETAILS},
        }
        batch.append(invoice)
        if len(batch) == 1000:
            Invoice.objects.bulk_update(batch, ["parties"])
            batch = []
    Invoice.objects.bulk_update(batch, ["parties"])


class Migration(migrations.Migration):
    dependencies = [
        ("invoices", "0004_invoice_validators"),
    ]

    operations = [
        migrations.AddField(
            model_name="invoice",
            name="parties",
            field=models.JSONField(
                blank=True,
                editable=False,
                help_text="The seller and the client as they were when the invoice left draft: it"
                " keeps showing them.",
                null=True,
            ),
        ),
        migrations.RunPython(issued_invoices_keep_their_parties, migrations.RunPython.noop),
    ]
