from django.template.defaultfilters import pluralize
from django.utils import timezone

from accounts.management.workspaces import workspace_named
from accounts.models import ApiKey
from core.management.base import OperatorCommand, printable


def _state(api_key: ApiKey, now) -> str:
    if not api_key.tenant.is_active:
        return "workspace inactive"
    if api_key.revoked_at is not None:
        return f"revoked {api_key.revoked_at:%Y-%m-%d}"
    if api_key.expires_at is not None and api_key.expires_at <= now:
        return f"expired {api_key.expires_at:%Y-%m-%d}"
    if api_key.expires_at is not None:
        return f"active to {api_key.expires_at:%Y-%m-%d}"
    return "active"


class Command(OperatorCommand):
    help = (
        "List a workspace's API keys, newest first: prefix (for revoke_api_key), name, role, "
        "state, created, last used. Keys themselves are never stored, so never shown."
    )

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="The workspace's slug.")

    def handle(self, *args, tenant, **options):
        workspace = workspace_named(tenant)
        keys = workspace.api_keys.select_related("tenant").order_by("-created_at", "-pk")
        now = timezone.now()
        self.stdout.write(
            f"{'prefix':<10} {'name':<24} {'role':<8} {'state':<20} {'created':<17} last used"
        )
        for key in keys:
            used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
            self.stdout.write(
                f"{key.prefix:<10} {printable(key.name)[:24]:<24} {key.role:<8} {_state(key, now):<20}"
                f" {key.created_at:%Y-%m-%d %H:%M} {used}"
            )
        usable = sum(key.is_usable for key in keys) if workspace.is_active else 0
        self.stdout.write(
            f"{len(keys)} key{pluralize(len(keys))} of {workspace.slug}, {usable} usable."
        )
