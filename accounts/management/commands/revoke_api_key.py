from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiKey
from accounts.services import API_KEY_SCHEME, api_key_revoke, operator_at_command_line


class Command(BaseCommand):
    help = "Revoke an API key by its public prefix (the 8 characters after 'ofl_')."

    def add_arguments(self, parser):
        parser.add_argument("prefix")

    def handle(self, *args, prefix, **options):
        prefix = prefix.removeprefix(API_KEY_SCHEME)[:8]
        api_key = ApiKey.objects.select_related("tenant").filter(prefix=prefix).first()
        if api_key is None:
            raise CommandError(f"No API key with prefix {prefix!r}.")
        api_key_revoke(api_key=api_key, actor=operator_at_command_line())
        self.stdout.write(f"Revoked API key {api_key.prefix} of {api_key.tenant.slug}.")
