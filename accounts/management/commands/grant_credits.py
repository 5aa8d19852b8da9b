from django.core.management.base import CommandError

from accounts.management.workspaces import workspace_named
from accounts.models import CreditEntry
from accounts.services import credits_grant, credits_grant_refusal
from core.management.base import OperatorCommand, field_checked


class Command(OperatorCommand):
    help = "Grant a workspace credits; the grant is written to its credit ledger."

    def add_arguments(self, parser):
        parser.add_argument("tenant", help="The workspace's slug.")
        parser.add_argument("amount", type=int, help="How many credits to add (at least 1).")
        parser.add_argument(
            "--reason",
            default="Granted from the command line",
            help="Written on the ledger entry (at most 200 characters).",
        )

    def handle(self, *args, tenant, amount, reason, **options):
        if amount <= 0:
            raise CommandError("The amount must be a positive number of credits.")
        field_checked(CreditEntry, "reason", reason, "--reason")
        workspace = workspace_named(tenant)
        if refusal := credits_grant_refusal(tenant=workspace, amount=amount):
            raise CommandError(refusal)
        entry = credits_grant(tenant=workspace, amount=amount, reason=reason)
        self.stdout.write(
            f"Granted {amount} credits to {workspace.slug}; the balance is {entry.balance_after}."
        )
