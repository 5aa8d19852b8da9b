from django.core.management.base import CommandError

from budgets.tasks import LOCK_TTL, budget_alert_check
from core.management.base import EXIT_SKIPPED, OperatorCommand


class Command(OperatorCommand):
    help = "Run the budget alert check now (as the 15-minute schedule does) and print what it did."

    def handle(self, *args, **options):
        counts = budget_alert_check()
        if not counts:
            raise CommandError(
                "Nothing was checked: another budget check is running and holds its lock (one"
                f" killed midway holds it {LOCK_TTL // 60} minutes at most). Run this again once it"
                " has ended.",
                returncode=EXIT_SKIPPED,
            )
        self.stdout.write(
            f"Projects checked: {counts['checked']}, alerts raised: {counts['alerts_created']},"
            f" alerts updated: {counts['alerts_updated']}, alerts resolved:"
            f" {counts['alerts_resolved']}, projects failed: {counts['failed']}."
        )
