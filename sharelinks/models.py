import hashlib
from datetime import timedelta
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from accounts.models import Tenant, TenantOwned, TenantScopedQuerySet


def share_token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def share_token_named(text: str) -> str:
    """The token a link's URL (…/s/<token>, with a query or fragment, its path encoded or not)
    names, or the token itself, as pasted (spaces and a line break around it)."""
    text = text.strip()
    if "/" in text:
        try:
            text = unquote(urlsplit(text).path)
        except ValueError:
            # Not a URL at all (`http://[x/…`): it names no token.
            return ""
    return text.rstrip("/").rsplit("/s/", 1)[-1]


def _spent(now) -> Q:
    """Expired, or at its view limit."""
    return Q(expires_at__lte=now) | Q(max_views__isnull=False, view_count__gte=F("max_views"))


MAX_VIEWS = 1_000_000


def expires_at_within_bounds(value) -> None:
    """A link lives at most SHARE_LINK_MAX_DAYS: the furthest expiry the API and the admin take."""
    if value is not None and value > timezone.now() + timedelta(days=settings.SHARE_LINK_MAX_DAYS):
        raise ValidationError(f"At most {settings.SHARE_LINK_MAX_DAYS} days from now.")


class PublicLinkQuerySet(TenantScopedQuerySet):
    def usable(self, now=None):
        """Links that open now: active, unexpired and under their view limit, of an active
        workspace (a suspended one publishes nothing)."""
        now = now or timezone.now()
        return self.filter(
            Q(expires_at__isnull=True) | Q(expires_at__gt=now),
            Q(max_views__isnull=True) | Q(view_count__lt=F("max_views")),
            is_active=True,
            # A subquery, not a join: share_link_view's UPDATE must stay a plain conditional
            # UPDATE of the link's row, whose view limit PostgreSQL rechecks under concurrency.
            tenant__in=Tenant.objects.filter(is_active=True),
        )

    def unusable(self, now=None):
        """Links that answer 404: deactivated, expired or used up, or of a suspended workspace."""
        return self.filter(
            Q(is_active=False)
            | Q(tenant__in=Tenant.objects.filter(is_active=False))
            | _spent(now or timezone.now())
        )

    def expired_or_used_up(self, now=None):
        """Links still active that no longer open: what the nightly cleanup deactivates."""
        return self.filter(_spent(now or timezone.now()), is_active=True)


class PublicLink(TenantOwned, models.Model):
    """A public link to one of a workspace's resources. Only the SHA-256 of its token is stored."""

    class Reason(models.TextChoices):
        REVOKED = "revoked", "Revoked"
        EXPIRED_OR_MAX_VIEWS = "expired_or_max_views", "Expired or used up"
        RESOURCE_DELETED = "resource_deleted", "Resource deleted"

    # Indexed by the (tenant, created_at) and (tenant, resource_type, resource_id) indexes.
    tenant = models.ForeignKey(
        "accounts.Tenant", on_delete=models.CASCADE, related_name="public_links", db_index=False
    )
    resource_type = models.CharField(max_length=32)
    resource_id = models.CharField(max_length=64)
    token_hash = models.CharField(max_length=64, unique=True)
    token_prefix = models.CharField(
        max_length=8, help_text="The token's first characters, to recognise it."
    )
    expires_at = models.DateTimeField(null=True, blank=True, validators=[expires_at_within_bounds])
    max_views = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(MAX_VIEWS)]
    )
    view_count = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    deactivated_at = models.DateTimeField(null=True, blank=True)
    deactivated_reason = models.CharField(max_length=32, choices=Reason.choices, blank=True)
    created_by_key = models.ForeignKey(
        "accounts.ApiKey", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    objects = PublicLinkQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(
                fields=["expires_at"],
                condition=models.Q(is_active=True),
                name="publiclink_active_expiry",
            ),
            models.Index(fields=["tenant", "resource_type", "resource_id"]),
            # A workspace's links, newest first (the API's list): a page reads only its rows.
            models.Index(fields=["tenant", "-created_at"], name="publiclink_tenant_newest"),
        ]

    def __str__(self):
        return f"{self.resource_type}:{self.resource_id} ({self.token_prefix}…)"

    @property
    def is_usable(self) -> bool:
        """Whether the link opens now (the same test as PublicLink.objects.usable())."""
        now = timezone.now()
        return (
            self.is_active
            and (self.expires_at is None or self.expires_at > now)
            and (self.max_views is None or self.view_count < self.max_views)
            and self.tenant.is_active
        )


class PublicLinkEvent(models.Model):
    class Kind(models.TextChoices):
        VIEW = "view", "View"

    link = models.ForeignKey(PublicLink, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.VIEW)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    client_hash = models.CharField(
        max_length=16, blank=True, help_text="A keyed hash of the address, not the address."
    )
    user_agent = models.CharField(max_length=32, blank=True, help_text="The browser's family only.")

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.kind} of {self.link_id} at {self.created_at:%Y-%m-%d %H:%M}"
