from django.contrib.auth import get_user_model
from django.core.management.base import CommandError

from accounts.models import Tenant
from accounts.services import tenant_create
from core.errors import Conflict
from core.management.base import OperatorCommand, field_checked


class Command(OperatorCommand):
    help = "Create a tenant (workspace), optionally with an admin member."

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument("--name", help="Display name (defaults to the slug).")
        parser.add_argument(
            "--admin-email", help="Create or reuse this user as the tenant's admin."
        )

    def handle(self, *args, slug, name, admin_email, **options):
        if not slug:
            raise CommandError("The slug may not be empty.")
        field_checked(Tenant, "slug", slug, repr(slug))
        if name is not None:
            field_checked(Tenant, "name", name, repr(name))
        if admin_email is not None:
            User = get_user_model()
            field_checked(User, "email", admin_email, repr(admin_email))
            # It names the user created for it.
            field_checked(User, "username", admin_email.lower(), repr(admin_email))
        taken = Tenant.objects.filter(slug__iexact=slug).values_list("slug", flat=True).first()
        if taken is not None:
            raise CommandError(f"A tenant with slug {taken!r} already exists.")
        known = admin_email is not None and (
            get_user_model().objects.filter(email__iexact=admin_email).exists()
        )
        try:
            tenant = tenant_create(slug=slug, name=name or slug, admin_email=admin_email)
        except Conflict as exc:
            raise CommandError(f"{exc.detail} Nothing was created.") from exc
        self.stdout.write(f"Created tenant {tenant.slug} (id {tenant.pk}).")
        if admin_email is not None:
            who = "an existing user" if known else "a new user, without a password"
            self.stdout.write(
                f"Its admin is {admin_email} ({who}), who receives its alerts by email."
            )
