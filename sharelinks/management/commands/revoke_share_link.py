from django.core.management.base import CommandError
from django.utils.text import capfirst

from accounts.services import operator_at_command_line
from core.management.base import OperatorCommand, local_time
from sharelinks.models import PublicLink, share_token_hash, share_token_named
from sharelinks.services import share_link_revoke


def _link_named(text: str) -> PublicLink | None:
    """The link a URL, a token or an id names."""
    token = share_token_named(text)
    if token.isascii() and token.isdigit():
        return PublicLink.objects.select_related("tenant").filter(pk=int(token)).first()
    found = PublicLink.objects.select_related("tenant").filter(token_hash=share_token_hash(token))
    return found.first()


class Command(OperatorCommand):
    help = (
        "Revoke a share link now (a leaked link, say), named by its URL, its token or its id: it "
        "stops opening at once. The revocation is in the workspace's audit log."
    )

    def add_arguments(self, parser):
        parser.add_argument("link", help="The link's URL (…/s/<token>), its token, or its id.")

    def handle(self, *args, link, **options):
        found = _link_named(link)
        if found is None:
            raise CommandError("No share link matches that URL, token or id.")
        name = f"share link {found.pk} ({found}) of {found.tenant.slug}"
        if not found.is_active:
            reason = (found.get_deactivated_reason_display() or "deactivated").lower()
            when = f", {local_time(found.deactivated_at)}" if found.deactivated_at else ""
            self.stdout.write(f"{capfirst(name)} was already inactive ({reason}{when}).")
            return
        share_link_revoke(link=found, actor=operator_at_command_line())
        self.stdout.write(f"Revoked {name}.")
