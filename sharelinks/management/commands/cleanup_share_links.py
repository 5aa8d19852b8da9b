from accounts.services import operator_at_command_line
from core.management.base import OperatorCommand
from sharelinks.tasks import share_link_cleanup_run


class Command(OperatorCommand):
    help = "Run the share-link cleanup now: deactivate expired and used-up links, delete old view events."

    def handle(self, *args, **options):
        counts = share_link_cleanup_run(actor=operator_at_command_line())
        if not counts:
            self.stdout.write("Another cleanup is running; this one was skipped.")
            return
        self.stdout.write(
            f"Links deactivated: {counts['deactivated']}, old view events deleted:"
            f" {counts['cleaned_events']}, links failed: {counts['failed']}."
        )
