from datetime import timedelta

from core.files import stored_orphans_delete
from core.management.base import OperatorCommand, number_checked

# A file is recorded seconds after it is stored; no grace at all would take one being stored now.
MIN_HOURS = 1
MAX_HOURS = 24 * 365 * 100


class Command(OperatorCommand):
    help = (
        "Delete stored files no row names (generated and drawn images, invoice PDFs) that are "
        "older than a grace period: those a worker killed mid-save or a storage that failed to "
        "delete left behind."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than-hours",
            type=float,
            default=24,
            metavar="HOURS",
            help="Only files last modified more than HOURS ago (default 24, at least 1): a file "
            "being stored now has no row yet.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only list what would be deleted."
        )

    def handle(self, *args, **options):
        hours = number_checked(
            options["older_than_hours"], MIN_HOURS, MAX_HOURS, "--older-than-hours", "hours"
        )
        dry_run = options["dry_run"]
        verb = "Would delete" if dry_run else "Deleted"
        cleanup = stored_orphans_delete(
            older_than=timedelta(hours=hours),
            dry_run=dry_run,
            deleted=lambda name, size: self.stdout.write(f"{verb} {name} ({size:,} bytes)"),
            failed=lambda name, exc: self.stderr.write(f"Could not delete {name}: {exc}"),
        )
        summary = (
            f"{verb} {cleanup.deleted} files ({cleanup.bytes_freed:,} bytes"
            f"{' to free' if dry_run else ' freed'}); kept {cleanup.kept_named + cleanup.kept_recent}"
            f" ({cleanup.kept_named} named by a row, {cleanup.kept_recent} newer than {hours:g} hours)."
        )
        if cleanup.failed:
            summary += f" {cleanup.failed} could not be deleted (listed above); they are left."
        self.stdout.write(summary)
