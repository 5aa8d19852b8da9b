from decimal import Decimal

import factory

from invoices.models import Client, Invoice, InvoiceLine


class ClientFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Client

    name = factory.Sequence(lambda n: f"Client {n} AS")
    address = "Storgata 1\n0155 Oslo"
    organisation_number = "999 888 777"


class InvoiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invoice

    number = factory.Sequence(lambda n: f"2026-{n:04d}")
    client = factory.SubFactory(ClientFactory, tenant=factory.SelfAttribute("..tenant"))
    currency = "NOK"


def line(invoice, description, quantity, unit_price, vat_rate, order=0):
    return InvoiceLine.objects.create(
        invoice=invoice,
        description=description,
        quantity=Decimal(str(quantity)),
        unit_price=Decimal(str(unit_price)),
        vat_rate=Decimal(str(vat_rate)),
        sort_order=order,
    )
