from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from accounts.models import Tenant
from accounts.services import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (workspace), optionally with an admin member."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", help="Display name (defaults to the slug).")
        parser.add_argument(
            "--admin-email", help="Create or reuse this user as the tenant's admin."
        )

    def handle(self, *args, slug, name, admin_email, **options):
        checks = [
            (slug, Tenant._meta.get_field("slug").run_validators),
            (name, Tenant._meta.get_field("name").run_validators),
            (admin_email, validate_email),
        ]
        for value, validate in checks:
            if value is None:
                continue
            try:
                validate(value)
            except ValidationError as exc:
                raise CommandError(f"{value!r}: {exc.messages[0]}") from exc
        if Tenant.objects.filter(slug=slug).exists():
            raise CommandError(f"A tenant with slug {slug!r} already exists.")
        tenant = tenant_create(slug=slug, name=name or slug, admin_email=admin_email)
        self.stdout.write(f"Created tenant {tenant.slug} (id {tenant.pk}).")
