from django.core.management.base import BaseCommand

from core.scheduling import schedules_sync


class Command(BaseCommand):
    help = "Create or update the project's periodic tasks in django-celery-beat (paused ones stay paused)."

    def handle(self, *args, **options):
        names = schedules_sync()
        for name in names:
            self.stdout.write(f"  {name}")
        self.stdout.write(f"Synced {len(names)} schedules.")
