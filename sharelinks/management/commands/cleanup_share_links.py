from django.core.management.base import BaseCommand

from sharelinks.tasks import share_link_cleanup


class Command(BaseCommand):
    help = "Run the share-link cleanup now: deactivate expired and used-up links, delete old view events."

    def handle(self, *args, **options):
        counts = share_link_cleanup()
        if not counts:
            self.stdout.write("Another cleanup is running; this one was skipped.")
            return
        self.stdout.write(
            f"Deactivated {counts['deactivated']} links, deleted {counts['cleaned_events']} old view events, "
            f"{counts['failed']} links failed."
        )
