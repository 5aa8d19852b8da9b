from django.core.management.base import CommandError
from django.template.defaultfilters import pluralize
from django.utils import timezone

from accounts.models import ApiKey
from accounts.services import api_key_revoke, api_keys_named, operator_at_command_line
from core.management.base import OperatorCommand


class Command(OperatorCommand):
    help = (
        "Revoke an API key by its public prefix (the 8 characters after 'ofl_', with or without "
        "them), or by the whole key, with the keys it made through the API (and those made by "
        "them), even when it was revoked already."
    )

    def add_arguments(self, parser):
        parser.add_argument("prefix")

    def handle(self, *args, prefix, **options):
        api_key = ApiKey.objects.select_related("tenant").filter(api_keys_named(prefix)).first()
        if api_key is None:
            raise CommandError("No API key has that prefix (or is that key).")
        name = f"API key {api_key.prefix} of {api_key.tenant.slug}"
        revoked_at = api_key.revoked_at
        revoked_with = api_key_revoke(api_key=api_key, actor=operator_at_command_line())
        made = f"{revoked_with} key{pluralize(revoked_with)} made by it"
        if revoked_at is None:
            with_made = f", and {made}" if revoked_with else ""
            self.stdout.write(f"Revoked {name}{with_made}.")
            return
        revoked_at = timezone.localtime(revoked_at)
        self.stdout.write(f"{name} was already revoked, at {revoked_at:%Y-%m-%d %H:%M %Z}.")
        if revoked_with:
            self.stdout.write(f"Revoked {made}.")
