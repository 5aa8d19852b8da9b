from django.core.management.base import CommandError

from budgets.tasks import SKIPPED_FOR_THE_LOCK, budget_alert_check
from core.management.base import EXIT_SKIPPED, OperatorCommand


class Command(OperatorCommand):
    help = "Run the budget alert check now (as the 15-minute schedule does) and print what it did."

    def handle(self, *args, **options):
        counts = budget_alert_check()
        if not counts:
            raise CommandError(SKIPPED_FOR_THE_LOCK, returncode=EXIT_SKIPPED)
        self.stdout.write(
            f"Projects checked: {counts['checked']}, alerts raised: {counts['alerts_created']},"
            f" alerts updated: {counts['alerts_updated']}, alerts resolved:"
            f" {counts['alerts_resolved']}, projects failed: {counts['failed']}."
        )
