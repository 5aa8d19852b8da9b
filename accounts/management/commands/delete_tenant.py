from django.core.management.base import BaseCommand, CommandError
from django.db import models

from accounts.models import Tenant
from jobs.management.jobcommands import progress_printer
from jobs.services import delete_in_batches


def _owned_rows(tenant: Tenant) -> list[models.QuerySet]:
    """The workspace's rows of every model that has some, those another protects (a client,
    by its invoices) after the protecting ones."""

    def reverse_relations(model):
        return [rel for rel in model._meta.get_fields(include_hidden=True) if rel.one_to_many]

    def protected(rel) -> bool:
        return any(r.on_delete is models.PROTECT for r in reverse_relations(rel.related_model))

    return [
        rel.related_model._base_manager.filter(**{rel.field.name: tenant})
        for rel in sorted(reverse_relations(Tenant), key=protected)
    ]


class Command(BaseCommand):
    help = (
        "Delete a workspace with everything it holds (jobs and their history, artifacts, "
        "projects, invoices, share links, keys, credit ledger, audit log), a thousand rows at a "
        "time, so that a workspace of any size can go. It is deactivated first: its keys stop "
        "working at once. Interrupted, run it again to finish."
    )

    def add_arguments(self, parser):
        parser.add_argument("slug")
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation.",
        )

    def handle(self, *args, slug, interactive, **options):
        tenant = Tenant.objects.filter(slug=slug).first()
        if tenant is None:
            raise CommandError(f"No workspace {slug!r}.")
        if interactive and not self._confirmed(tenant):
            raise CommandError("Nothing deleted.")
        tenant.is_active = False
        tenant.save(update_fields=["is_active"])
        for rows in _owned_rows(tenant):
            what = str(rows.model._meta.verbose_name_plural)
            deleted = delete_in_batches(
                rows, progress=progress_printer(self.stdout, what, rows.count())
            )
            if deleted:
                self.stdout.write(f"  deleted {deleted} {what}")
        tenant.delete()
        self.stdout.write(f"Deleted workspace {slug}.")

    def _confirmed(self, tenant: Tenant) -> bool:
        answer = input(
            f"Delete workspace {tenant.slug} ({tenant.jobs.count()} jobs) and everything else it "
            "holds, for good? Type 'yes' to go on: "
        )
        return answer == "yes"
