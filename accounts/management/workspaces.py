from django.core.management.base import CommandError

from accounts.models import Tenant


def workspace_named(slug: str, *, active: bool = False) -> Tenant:
    """The workspace `slug` names (only an active one, with `active`), or a CommandError saying
    there is none: an empty slug (an unset variable in a script) names none."""
    workspaces = Tenant.objects.filter(is_active=True) if active else Tenant.objects.all()
    workspace = workspaces.filter(slug=slug).first()
    if workspace is None:
        raise CommandError(f"No {'active ' if active else ''}workspace {slug!r}.")
    return workspace
