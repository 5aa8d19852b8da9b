import uuid

from django.db import migrations
from django.db.models import BigIntegerField, Exists, OuterRef
from django.db.models.functions import Cast
from django.utils import timezone

# Links to a resource deleted before its deletion ended its links: they only answered 404, while
# the API called them usable. They end as a deletion ends them now, each audited.
OWNED = {
    "deck": ("generations", "Deck"),
    "story": ("generations", "Story"),
    "skill_tree": ("generations", "SkillTree"),
    "image": ("generations", "GeneratedImage"),
    "invoice_pdf": ("invoices", "Invoice"),
}
BATCH = 1000


def end_links_of_deleted_resources(apps, schema_editor):
    PublicLink = apps.get_model("sharelinks", "PublicLink")
    active = PublicLink.objects.filter(is_active=True)
    gone = []
    for resource_type, (app, name) in OWNED.items():
        # Stored ids of these are plain digits (share_link_create keeps them so).
        there = apps.get_model(app, name).objects.filter(
            tenant_id=OuterRef("tenant_id"), pk=Cast(OuterRef("resource_id"), BigIntegerField())
        )
        links = active.filter(resource_type=resource_type).exclude(Exists(there))
        gone += links.values_list("pk", "tenant_id")
    Flashcard = apps.get_model("generations", "Flashcard")
    for pk, tenant_id, resource_id in active.filter(resource_type="flashcard_set").values_list(
        "pk", "tenant_id", "resource_id"
    ):
        cards = Flashcard.objects.filter(tenant_id=tenant_id, generation_id=uuid.UUID(resource_id))
        if not cards.exists():
            gone.append((pk, tenant_id))
    for start in range(0, len(gone), BATCH):
        _end(apps, gone[start : start + BATCH])


def _end(apps, links):
    PublicLink = apps.get_model("sharelinks", "PublicLink")
    AuditEvent = apps.get_model("accounts", "AuditEvent")
    now = timezone.now()
    PublicLink.objects.filter(pk__in=[pk for pk, _ in links], is_active=True).update(
        is_active=False, deactivated_at=now, deactivated_reason="resource_deleted"
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(
            tenant_id=tenant_id,
            resource_type="sharelinks.publiclink",
            resource_id=str(pk),
            action="deactivate",
            old_values={"is_active": True},
            new_values={"is_active": False},
            changed_fields=["is_active"],
            metadata={"reason": "resource_deleted"},
            actor_type="worker",
            actor_label="worker",
            created_at=now,
        )
        for pk, tenant_id in links
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0007_credit_entry_tenant_index"),
        ("generations", "0003_drawnimage"),
        ("invoices", "0006_currency_iso_4217"),
        ("sharelinks", "0005_link_reason_resource_deleted"),
    ]

    operations = [
        migrations.RunPython(end_links_of_deleted_resources, migrations.RunPython.noop)
    ]
