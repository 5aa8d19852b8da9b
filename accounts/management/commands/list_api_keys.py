from django.template.defaultfilters import pluralize
from django.utils import timezone

from accounts.management.workspaces import workspace_named
from accounts.models import ApiKey
from core.management.base import OperatorCommand, local_time, printable


def _state(api_key: ApiKey, now) -> str:
    if not api_key.tenant.is_active:
        return "workspace inactive"
    if api_key.revoked_at is not None:
        return f"revoked {local_time(api_key.revoked_at, '%Y-%m-%d')}"
    if api_key.expires_at is not None and api_key.expires_at <= now:
        return f"expired {local_time(api_key.expires_at, '%Y-%m-%d')}"
    if api_key.expires_at is not None:
        return f"active to {local_time(api_key.expires_at, '%Y-%m-%d')}"
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
            f"{'prefix':<10} {'name':<24} {'role':<8} {'state':<24} {'created':<21} last used"
        )
        for key in keys:
            used = local_time(key.last_used_at) if key.last_used_at else "never"
            self.stdout.write(
                f"{key.prefix:<10} {printable(key.name)[:24]:<24} {key.role:<8} {_state(key, now):<24}"
                f" {local_time(key.created_at)} {used}"
            )
        usable = sum(key.is_usable for key in keys) if workspace.is_active else 0
        self.stdout.write(
            f"{len(keys)} key{pluralize(len(keys))} of {workspace.slug}, {usable} usable."
        )
