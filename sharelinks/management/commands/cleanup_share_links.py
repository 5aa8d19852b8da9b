from django.core.management.base import CommandError

from accounts.services import operator_at_command_line
from core.management.base import EXIT_SKIPPED, OperatorCommand
from sharelinks.tasks import LOCK_TTL, share_link_cleanup_run


class Command(OperatorCommand):
    help = "Run the share-link cleanup now: deactivate expired and used-up links, delete old view events."

    def handle(self, *args, **options):
        counts = share_link_cleanup_run(actor=operator_at_command_line())
        if not counts:
            raise CommandError(
                "Nothing was cleaned up: another share-link cleanup is running and holds its lock"
                f" (one killed midway holds it {LOCK_TTL // 60} minutes at most). Run this again"
                " once it has ended.",
                returncode=EXIT_SKIPPED,
            )
        self.stdout.write(
            f"Links deactivated: {counts['deactivated']}, old view events deleted:"
            f" {counts['cleaned_events']}, links failed: {counts['failed']}."
        )
