from django.db import transaction

from accounts.models import Membership, Tenant
from accounts.services import (
    api_key_create,
    credits_grant,
    operator_at_command_line,
    tenant_create,
)
from core.management.base import OperatorCommand

DEMO_SLUG = "demo"
DEMO_CREDITS = 1000


class Command(OperatorCommand):
    help = "Create the demo tenant (once) with credits, and print a fresh admin API key for it."

    @transaction.atomic
    def handle(self, *args, **options):
        tenant = Tenant.objects.filter(slug=DEMO_SLUG).first()
        if tenant is None:
            tenant = tenant_create(
                slug=DEMO_SLUG, name="Demo workspace", admin_email="admin@example.com"
            )
            credits_grant(tenant=tenant, amount=DEMO_CREDITS, reason="Demo credits")
            self.stdout.write(f"Created tenant {DEMO_SLUG} with {DEMO_CREDITS} credits.")
        _, plaintext = api_key_create(
            tenant=tenant, name="demo", role=Membership.Role.ADMIN, actor=operator_at_command_line()
        )
        self.stdout.write("Demo API key (shown once):")
        self.stdout.write(f"  export OFFLOAD_KEY={plaintext}")
