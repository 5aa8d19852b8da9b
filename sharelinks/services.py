import hashlib
import hmac
import json
import logging
import re
import secrets
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Q, QuerySet, Subquery
from django.utils import timezone

from accounts.models import AuditEvent, Notification
from accounts.services import (
    audit_actor_fields,
    audit_record,
    notification_resolve,
    notify_admins,
)
from core.errors import NotFound
from sharelinks.models import PublicLink, PublicLinkEvent, share_token_hash
from sharelinks.resources import SHAREABLES

logger = logging.getLogger(__name__)

# View events are nobody's lock: they go in larger batches, each DELETE still brief.
EVENTS_PURGE_BATCH = 50_000
# The health check keeps the same alert open after the run, or closes it: one alert, not two.
CLEANUP_FAILURES_ALERT_KEY = "ops:cleanup-failures"
# In order: Edge and Opera say Chrome too, Chrome says Safari.
BROWSERS = [
    (family, re.compile(rf"\b{family}\b", re.I))
    for family in ("Edg", "OPR", "Firefox", "Chrome", "Safari", "curl", "Wget", "python-httpx")
]
BOT = re.compile("bot", re.I)
# What a view event records of its browser (_browser).
BROWSER_FAMILIES = sorted([*(family.lower() for family, _ in BROWSERS), "bot", "other"])


def share_link_create(
    *,
    tenant,
    resource_type: str,
    resource_id,
    expires_at=None,
    max_views=None,
    api_key=None,
    user=None,
) -> tuple[PublicLink, str]:
    """A link to one of the tenant's own resources; its token is returned once and never stored."""
    found = SHAREABLES[resource_type].find(tenant, resource_id)
    if found is None:
        raise NotFound(f"No {resource_type} {resource_id} in this workspace.")
    resource_id = found
    token = secrets.token_urlsafe(32)
    while token.startswith("-"):
        # Pasted on a command line (revoke_share_link), it would be read as an option.
        token = secrets.token_urlsafe(32)
    link = PublicLink.objects.create(
        tenant=tenant,
        resource_type=resource_type,
        resource_id=resource_id,
        token_hash=share_token_hash(token),
        token_prefix=token[:6],
        expires_at=expires_at,
        max_views=max_views,
        created_by_key=api_key,
        created_by_user=user,
    )
    audit_record(
        tenant=tenant,
        resource=link,
        action=AuditEvent.Action.CREATE,
        actor=api_key or user,
        new={
            "resource": f"{resource_type}:{resource_id}",
            "expires_at": expires_at and expires_at.isoformat(),
            "max_views": max_views,
        },
    )
    return link, token


def share_link_url(token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/s/{token}"


def share_link_revoke(*, link: PublicLink, actor=None) -> PublicLink:
    _deactivate_audited(link, PublicLink.Reason.REVOKED, actor=actor)
    link.refresh_from_db()
    return link


def share_links_resource_deleted(
    *, tenant_id: int, resource_type: str, resource_id: str, actor=None
) -> int:
    """Deactivate the links to a resource that was deleted (they could only answer 404 now), each
    audited as done by whoever deleted it; returns how many."""
    links = PublicLink.objects.select_related("tenant").filter(
        tenant_id=tenant_id, resource_type=resource_type, resource_id=resource_id, is_active=True
    )
    return sum(
        _deactivate_audited(link, PublicLink.Reason.RESOURCE_DELETED, actor=actor) for link in links
    )


def share_links_ending(rows) -> QuerySet:
    """The links that open now and would stop if `rows` (of one model) were deleted: those to the
    resources that go with them."""
    rows = list(rows)
    ending = Q(pk__in=[])
    for resource_type, shareable in SHAREABLES.items():
        if rows and shareable.model is type(rows[0]):
            by_workspace = defaultdict(list)
            for tenant_id, resource_id in shareable.ending(rows):
                by_workspace[tenant_id].append(resource_id)
            for tenant_id, resource_ids in by_workspace.items():
                ending |= Q(
                    tenant_id=tenant_id, resource_type=resource_type, resource_id__in=resource_ids
                )
    return PublicLink.objects.usable().filter(ending)


def _deactivate_audited(link: PublicLink, reason: str, *, actor=None) -> bool:
    if not PublicLink.objects.filter(pk=link.pk, is_active=True).update(
        is_active=False, deactivated_at=timezone.now(), deactivated_reason=reason
    ):
        return False
    audit_record(
        tenant=link.tenant,
        resource=link,
        action=AuditEvent.Action.DEACTIVATE,
        actor=actor,
        old={"is_active": True},
        new={"is_active": False},
        metadata={"reason": reason},
    )
    return True


def share_link_view(*, token: str, client_ip: str, user_agent: str) -> PublicLink | None:
    """Count one view, with one conditional UPDATE that only matches a usable link, and record its
    event; None for unknown, inactive, expired and used-up links alike. Call it inside the
    transaction that renders the page, so a page that cannot be rendered counts nothing."""
    token_hash = share_token_hash(token)
    if (
        not PublicLink.objects.usable()
        .filter(token_hash=token_hash)
        .update(view_count=F("view_count") + 1)
    ):
        return None
    link = PublicLink.objects.get(token_hash=token_hash)
    PublicLinkEvent.objects.create(
        link=link, client_hash=_client_hash(client_ip), user_agent=_browser(user_agent)
    )
    return link


def share_link_find(*, token: str) -> PublicLink | None:
    """The link a token opens now, counting no view: what a HEAD request asks. None for unknown,
    inactive, expired and used-up links alike, as share_link_view."""
    return PublicLink.objects.usable().filter(token_hash=share_token_hash(token)).first()


def _client_hash(client_ip: str) -> str:
    return hmac.new(settings.SECRET_KEY.encode(), client_ip.encode(), hashlib.sha256).hexdigest()[
        :16
    ]


def _browser(user_agent: str) -> str:
    user_agent = user_agent or ""
    if BOT.search(user_agent):
        return "bot"
    return next(
        (family.lower() for family, pattern in BROWSERS if pattern.search(user_agent)), "other"
    )


CLEANUP_AUDIT = {
    "resource_type": "sharelinks.publiclink",
    "action": AuditEvent.Action.DEACTIVATE,
    "actor_type": AuditEvent.ActorType.WORKER,
    "actor_id": "",
    "actor_label": "share_link_cleanup",
    "old_values": {"is_active": True},
    "new_values": {"is_active": False},
    "changed_fields": ["is_active"],
    "metadata": {"reason": PublicLink.Reason.EXPIRED_OR_MAX_VIEWS},
}
_AUDIT_COLUMNS = ", ".join(CLEANUP_AUDIT)
# One statement per batch: deactivate the links and write their audit events from what it returns.
_DEACTIVATE_SQL = f"""
WITH done AS (
    UPDATE sharelinks_publiclink SET is_active = false, deactivated_at = %s, deactivated_reason = %s
    WHERE id = ANY(%s) AND is_active RETURNING id, tenant_id
)
INSERT INTO accounts_auditevent (tenant_id, resource_id, created_at, {_AUDIT_COLUMNS})
SELECT tenant_id, id::text, %s, {", ".join(["%s"] * len(CLEANUP_AUDIT))} FROM done
"""


def share_links_cleanup(*, batch_size: int | None = None, on_batch=None, actor=None) -> dict:
    """Deactivate links that expired or reached their views, batch by batch, each batch in a short
    transaction that skips rows another transaction holds (a link being viewed right now is left
    for the next run rather than waited on); write one audit event per link; then delete view
    events older than SHARE_LINK_EVENT_RETENTION_DAYS in batches. A link that fails is logged and
    skipped; more than OPS_CLEANUP_MAX_FAILURES failures alert the platform's staff, once while a
    run still has that many; a run with fewer closes the alert. The audit events name `actor`
    (an operator running it by hand), or the scheduled cleanup itself."""
    batch_size = batch_size or settings.SHARE_LINK_CLEANUP_BATCH
    audit = CLEANUP_AUDIT if actor is None else {**CLEANUP_AUDIT, **audit_actor_fields(actor)}
    now = timezone.now()
    deactivated, failed, after = 0, [], 0
    while True:
        # Walk the links in id order from where the last batch ended: every batch reads only the
        # rows after it, and a link skipped (locked, or failing) is simply passed.
        with transaction.atomic():
            batch = list(
                PublicLink.objects.expired_or_used_up(now)
                .filter(pk__gt=after)
                .select_for_update(skip_locked=True)
                .only("pk", "tenant_id")
                .order_by("pk")[:batch_size]
            )
            if not batch:
                break
            after = batch[-1].pk
            done, broken = _deactivate_batch(batch, now, audit)
        deactivated += done
        failed += broken
        if on_batch is not None:
            on_batch(len(batch))
    cleaned = _events_purge(
        now - timedelta(days=settings.SHARE_LINK_EVENT_RETENTION_DAYS), EVENTS_PURGE_BATCH
    )
    _failures_alert(len(failed))
    return {"deactivated": deactivated, "cleaned_events": cleaned, "failed": len(failed)}


def _failures_alert(failed: int) -> None:
    if failed <= settings.OPS_CLEANUP_MAX_FAILURES:
        notification_resolve(tenant=None, alert_key=CLEANUP_FAILURES_ALERT_KEY)
        return
    notify_admins(
        tenant=None,
        kind=Notification.Kind.SHARE_LINK_CLEANUP_FAILURES,
        title=f"The share-link cleanup failed for {failed} links",
        payload={"failed": failed},
        alert_key=CLEANUP_FAILURES_ALERT_KEY,
    )


def _deactivate_batch(batch: list[PublicLink], now, audit: dict) -> tuple[int, list[int]]:
    """The whole batch in two statements; if that fails, link by link so that one bad row only
    costs itself."""
    try:
        with transaction.atomic():
            return _deactivate(batch, now, audit), []
    except Exception:  # noqa: BLE001 - isolate the failing link below
        logger.warning(
            "Share-link cleanup: a batch failed; retrying its links one by one.", exc_info=True
        )
    done, broken = 0, []
    for link in batch:
        try:
            with transaction.atomic():
                done += _deactivate([link], now, audit)
        except Exception:  # noqa: BLE001 - a failing link is logged and skipped
            logger.exception("Share-link cleanup: link %s could not be deactivated.", link.pk)
            broken.append(link.pk)
    return done, broken


def _deactivate(links: list[PublicLink], now, audit: dict) -> int:
    ids = [link.pk for link in links]
    if connection.vendor == "postgresql":
        values = [json.dumps(v) if isinstance(v, dict | list) else v for v in audit.values()]
        with connection.cursor() as cursor:
            cursor.execute(
                _DEACTIVATE_SQL, [now, PublicLink.Reason.EXPIRED_OR_MAX_VIEWS, ids, now, *values]
            )
            return cursor.rowcount
    updated = PublicLink.objects.filter(pk__in=ids, is_active=True).update(
        is_active=False,
        deactivated_at=now,
        deactivated_reason=PublicLink.Reason.EXPIRED_OR_MAX_VIEWS,
    )
    AuditEvent.objects.bulk_create(
        AuditEvent(tenant_id=link.tenant_id, resource_id=str(link.pk), created_at=now, **audit)
        for link in links
    )
    return updated


def _events_purge(before, batch_size: int) -> int:
    cleaned = 0
    oldest = PublicLinkEvent.objects.filter(created_at__lt=before).order_by().values("pk")
    # One DELETE … WHERE id IN (SELECT … LIMIT n) a batch: short transactions, no ids in Python.
    while deleted := PublicLinkEvent.objects.filter(pk__in=Subquery(oldest[:batch_size])).delete()[
        0
    ]:
        cleaned += deleted
    return cleaned
