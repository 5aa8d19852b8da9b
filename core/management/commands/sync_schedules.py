from core.management.base import OperatorCommand
from core.scheduling import schedules_sync


class Command(OperatorCommand):
    help = (
        "Create or update the project's periodic tasks in django-celery-beat (also run by "
        "migrate). Paused ones stay paused, and a timing changed in the admin is kept until the "
        "code declares another one; --reset-timing puts back the timings the code declares."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--reset-timing",
            action="store_true",
            help="Give every schedule the timing declared in code, undoing changes in the admin.",
        )

    def handle(self, *args, reset_timing, **options):
        synced = schedules_sync(reset_timing=reset_timing)
        for name, keeps_admin_timing in synced.items():
            kept = " (keeps the timing set in the admin)" if keeps_admin_timing else ""
            self.stdout.write(f"  {name}{kept}")
        self.stdout.write(f"Synced {len(synced)} schedules.")
