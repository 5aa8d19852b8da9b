from django.core.management.base import CommandError

from accounts.management.workspaces import workspace_named
from accounts.models import API_KEY_MAX_DAYS, ApiKey, Membership
from accounts.services import api_key_create, operator_at_command_line
from core.management.base import OperatorCommand, field_checked


class Command(OperatorCommand):
    help = "Create an API key for a tenant. The key is printed once, alone on the last line."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The tenant's slug.")
        parser.add_argument(
            "--name", default="", help="What the key is for (at most 100 characters)."
        )
        parser.add_argument(
            "--role",
            choices=Membership.Role.values,
            default=Membership.Role.ADMIN,
            help="What the key may do (default: admin).",
        )
        parser.add_argument(
            "--expires-in", type=int, metavar="DAYS", help="Expire after DAYS days."
        )

    def handle(self, *args, **options):
        tenant = workspace_named(options["tenant"])
        field_checked(ApiKey, "name", options["name"], "--name")
        if options["expires_in"] is not None and not 1 <= options["expires_in"] <= API_KEY_MAX_DAYS:
            raise CommandError(f"--expires-in must be from 1 to {API_KEY_MAX_DAYS} days.")
        api_key, plaintext = api_key_create(
            tenant=tenant,
            name=options["name"],
            role=options["role"],
            expires_in_days=options["expires_in"],
            actor=operator_at_command_line(),
        )
        self.stderr.write(f"Created API key {api_key.prefix} for {tenant.slug}; it is shown once:")
        self.stdout.write(plaintext)
