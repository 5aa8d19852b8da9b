from accounts.management.workspaces import workspace_named
from accounts.services import tenant_delete
from core.management.base import OperatorCommand
from jobs.management.jobcommands import progress_printer


class Command(OperatorCommand):
    help = (
        "Delete a workspace with everything it holds (jobs and their history, artifacts, "
        "projects, invoices, share links, keys, credit ledger, audit log), a thousand rows at a "
        "time, so that a workspace of any size can go. It is deactivated first: its keys stop "
        "working at once. Interrupted, run it again to finish."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        self.confirmation_argument(parser)

    def handle(self, *args, slug, interactive, **options):
        tenant = workspace_named(slug)
        if interactive:
            self.confirm(
                f"Delete workspace {tenant.slug} ({tenant.jobs.count()} jobs) and everything else "
                "it holds, for good?",
                refused="Nothing deleted.",
            )
        deleted = tenant_delete(
            tenant=tenant,
            progress_for=lambda kind, total: progress_printer(self.stdout, kind, total),
        )
        for kind, count in deleted.items():
            self.stdout.write(f"  deleted {count} {kind}")
        self.stdout.write(f"Deleted workspace {slug}.")
