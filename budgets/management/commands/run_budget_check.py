from django.core.management.base import BaseCommand

from budgets.tasks import budget_alert_check


class Command(BaseCommand):
    help = "Run the budget alert check now (as the 15-minute schedule does) and print what it did."

    def handle(self, *args, **options):
        counts = budget_alert_check()
        if not counts:
            self.stdout.write("Another budget check is running; this one was skipped.")
            return
        for name, value in counts.items():
            self.stdout.write(f"  {name}: {value}")
        self.stdout.write(
            f"Checked {counts['checked']} projects: {counts['alerts_created']} alerts raised, "
            f"{counts['alerts_resolved']} resolved, {counts['failed']} failed."
        )
