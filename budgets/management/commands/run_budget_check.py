from budgets.tasks import budget_alert_check
from core.management.base import OperatorCommand


class Command(OperatorCommand):
    help = "Run the budget alert check now (as the 15-minute schedule does) and print what it did."

    def handle(self, *args, **options):
        counts = budget_alert_check()
        if not counts:
            self.stdout.write("Another budget check is running; this one was skipped.")
            return
        self.stdout.write(
            f"Projects checked: {counts['checked']}, alerts raised: {counts['alerts_created']},"
            f" alerts updated: {counts['alerts_updated']}, alerts resolved:"
            f" {counts['alerts_resolved']}, projects failed: {counts['failed']}."
        )
