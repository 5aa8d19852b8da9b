from accounts.management.workspaces import workspace_named
from accounts.services import operator_at_command_line, tenant_active_set
from core.management.base import OperatorCommand
from jobs.services import tenant_jobs_stop


class Command(OperatorCommand):
    help = (
        "Deactivate a workspace (its API keys stop working at once, its share links stop "
        "opening, its pending jobs are canceled with their credits refunded and its running ones "
        "asked to stop; nothing is deleted), or with --undo activate it again (its canceled jobs "
        "stay canceled)."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug", help="The workspace's slug.")
        parser.add_argument("--undo", action="store_true", help="Activate it again.")

    def handle(self, *args, slug, undo, **options):
        tenant = workspace_named(slug)
        state = "active" if undo else "deactivated"
        operator = operator_at_command_line()
        changed = tenant_active_set(tenant=tenant, active=undo, actor=operator)
        # Deactivated again, it stops what is left: the jobs the admin's page had no time for.
        stopped = "" if undo else tenant_jobs_stop(tenant=tenant, actor=operator)
        if changed:
            self.stdout.write(f"Workspace {slug} is {state}.")
        elif stopped:
            self.stdout.write(f"Workspace {slug} was already {state}.")
        else:
            self.stdout.write(f"Workspace {slug} was already {state}; nothing changed.")
        if stopped:
            self.stdout.write(stopped)
