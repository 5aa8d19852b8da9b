from accounts.management.workspaces import workspace_named
from accounts.services import (
    operator_at_command_line,
    tenant_active_set,
    tenant_jobs_still_running,
)
from core.management.base import OperatorCommand


class Command(OperatorCommand):
    help = (
        "Deactivate a workspace (its API keys stop working at once, its share links stop "
        "opening; nothing is deleted), or with --undo activate it again."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The workspace's slug.")
        parser.add_argument("--undo", action="store_true", help="Activate it again.")

    def handle(self, *args, slug, undo, **options):
        tenant = workspace_named(slug)
        state = "active" if undo else "deactivated"
        if not tenant_active_set(tenant=tenant, active=undo, actor=operator_at_command_line()):
            self.stdout.write(f"Workspace {slug} was already {state}; nothing changed.")
            return
        self.stdout.write(f"Workspace {slug} is {state}.")
        if not undo and (still_running := tenant_jobs_still_running(tenant)):
            self.stdout.write(still_running)
