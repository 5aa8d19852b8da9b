import hashlib
import hmac

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from core.validators import validate_printable


class TenantScopedQuerySet(models.QuerySet):
    def for_tenant(self, tenant):
        return self.filter(tenant=tenant)


class TenantOwned:
    """A model mixin for rows with a `tenant`: validation (the admin's forms) refuses a relation to
    a row of another tenant, which the admin's raw id fields would otherwise take."""

    def clean(self):
        super().clean()
        if self.tenant_id is None:
            return
        errors = {}
        for field in self._meta.concrete_fields:
            if (
                not field.is_relation
                or field.name == "tenant"
                or getattr(self, field.attname) is None
            ):
                continue
            if not hasattr(field.related_model, "tenant"):
                continue
            if getattr(self, field.name).tenant_id != self.tenant_id:
                errors[field.name] = "It belongs to another workspace."
        if errors:
            raise ValidationError(errors)


class Tenant(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=64, unique=True)
    credit_balance = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        # Operators type slugs into commands: `Acme` beside `acme` would be two workspaces that
        # read as one. The same slug exactly is the unique check's to refuse.
        taken = (
            Tenant.objects.filter(slug__iexact=self.slug)
            .exclude(slug=self.slug)
            .exclude(pk=self.pk)
            .values_list("slug", flat=True)
            .first()
        )
        if taken is not None:
            raise ValidationError(
                {"slug": f"The workspace {taken!r} has this slug in another case."}
            )


class Membership(models.Model):
    class Role(models.TextChoices):
        ADMIN = "admin", "Admin"
        MEMBER = "member", "Member"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="membership_unique_user"),
        ]

    def __str__(self):
        return f"{self.user} in {self.tenant} ({self.role})"


KEY_PREFIX_LENGTH = 8
# The furthest an API key's expiry may be set, in days from when it is set (API, admin, command).
API_KEY_MAX_DAYS = 3650


def api_key_hash(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


class ApiKey(models.Model):
    """An API key: only a short public prefix and the SHA-256 of the whole key are stored."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100, blank=True, validators=[validate_printable])
    prefix = models.CharField(max_length=16, unique=True)
    key_hash = models.CharField(max_length=64, unique=True)
    role = models.CharField(
        max_length=16, choices=Membership.Role.choices, default=Membership.Role.MEMBER
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # The key that made it through the API: revoking that key revokes this one too.
    created_by_key = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="keys_made"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    rate_limit_per_minute = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Overrides RATE_LIMIT_PER_MINUTE for this key; 0 stops its job submissions.",
    )
    rate_limit_per_day = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Overrides RATE_LIMIT_PER_DAY for this key; 0 stops its job submissions.",
    )

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        verbose_name = "API key"
        # A key is made by one made before it, never (however far back) by itself: a revocation
        # walking down the keys made ends.
        constraints = [
            models.CheckConstraint(
                condition=models.Q(created_by_key__lt=models.F("id")),
                name="api_key_made_by_an_earlier_key",
            ),
        ]

    def __str__(self):
        return f"{self.prefix}… ({self.name or 'unnamed'})"

    @property
    def is_admin(self) -> bool:
        return self.role == Membership.Role.ADMIN

    @property
    def is_usable(self) -> bool:
        now = timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)

    def matches(self, plaintext: str) -> bool:
        return hmac.compare_digest(self.key_hash, api_key_hash(plaintext))


class CreditEntry(models.Model):
    """One change of a tenant's credit balance; the balance is the sum of the ledger."""

    class Kind(models.TextChoices):
        GRANT = "grant", "Grant"
        DEBIT = "debit", "Debit"
        REFUND = "refund", "Refund"

    # Indexed by the (tenant, created_at, id) index: every charge and refund writes this table.
    tenant = models.ForeignKey(
        Tenant, on_delete=models.CASCADE, related_name="credit_entries", db_index=False
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.IntegerField(help_text="Positive for grants and refunds, negative for debits.")
    balance_after = models.PositiveIntegerField()
    reason = models.CharField(max_length=200, blank=True)
    job = models.ForeignKey(
        "jobs.Job", null=True, blank=True, on_delete=models.SET_NULL, related_name="credit_entries"
    )
    # A refund gives back one debit. One-to-one: each charge is refunded at most once, whatever
    # races between cancel and failure, and a job charged again (requeued) can be refunded again.
    refund_of = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="refund"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "credit entries"
        ordering = ["-created_at", "-id"]
        # The ledger, newest first: the admin's list of every workspace and a workspace's own.
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="credit_entry_newest"),
            models.Index(
                fields=["tenant", "-created_at", "-id"], name="credit_entry_tenant_newest"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(refund_of__isnull=True) | models.Q(kind="refund"),
                name="credit_only_refunds_refund",
            ),
        ]

    def __str__(self):
        return f"{self.kind} {self.amount} ({self.tenant})"


class AuditEvent(models.Model):
    """Append-only record of who changed what."""

    class Action(models.TextChoices):
        CREATE = "create", "Create"
        UPDATE = "update", "Update"
        DELETE = "delete", "Delete"
        EXPORT = "export", "Export"
        DEACTIVATE = "deactivate", "Deactivate"

    class ActorType(models.TextChoices):
        USER = "user", "User"
        API_KEY = "api_key", "API key"
        WORKER = "worker", "Worker"
        OPERATOR = "operator", "Operator (manage.py)"

    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_events"
    )
    resource_type = models.CharField(max_length=64)
    resource_id = models.CharField(max_length=64)
    action = models.CharField(max_length=16, choices=Action.choices)
    actor_type = models.CharField(max_length=16, choices=ActorType.choices)
    actor_id = models.CharField(max_length=64, blank=True)
    actor_label = models.CharField(max_length=200, blank=True)
    old_values = models.JSONField(null=True, blank=True)
    new_values = models.JSONField(null=True, blank=True)
    changed_fields = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["resource_type", "resource_id"])]

    def __str__(self):
        return f"{self.action} {self.resource_type}:{self.resource_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Audit events are append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Audit events are append-only.")


OPEN_ALERT = models.Q(resolved_at__isnull=True) & ~models.Q(alert_key="")


class Notification(models.Model):
    """An in-app alert for one tenant admin (or platform staff when tenant is empty)."""

    class Kind(models.TextChoices):
        BUDGET_ALERT = "budget_alert", "Budget alert"
        BUDGET_CHECK_FAILURES = "budget_check_failures", "Budget check failures"
        INVOICE_PDF_FAILED = "invoice_pdf_failed", "Invoice PDF failed"
        STORAGE_FULL = "storage_full", "Storage full"
        # Platform staff only.
        OPS = "ops", "Platform health"
        SHARE_LINK_CLEANUP_FAILURES = "share_link_cleanup_failures", "Share-link cleanup failures"

    # What a workspace's admins are told of; the rest is the platform staff's.
    WORKSPACE_KINDS = [
        Kind.BUDGET_ALERT,
        Kind.BUDGET_CHECK_FAILURES,
        Kind.INVOICE_PDF_FAILED,
        Kind.STORAGE_FULL,
    ]

    class Status(models.TextChoices):
        OPEN = "open"
        RESOLVED = "resolved"

    tenant = models.ForeignKey(
        Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=64, choices=Kind.choices)
    alert_key = models.CharField(
        max_length=255, blank=True, help_text="Same key while open: the alert is not sent again."
    )
    title = models.CharField(max_length=255)
    payload = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        # An alert is open once per admin and workspace: the same key (storage full) open in
        # one workspace does not keep an admin of two from hearing of it in the other.
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "user", "alert_key"],
                condition=OPEN_ALERT & models.Q(tenant__isnull=False),
                name="notification_open_alert_once",
            ),
            models.UniqueConstraint(
                fields=["user", "alert_key"],
                condition=OPEN_ALERT & models.Q(tenant__isnull=True),
                name="notification_open_platform_alert_once",
            ),
        ]

    def __str__(self):
        return self.title

    @property
    def status(self) -> str:
        return self.Status.OPEN if self.resolved_at is None else self.Status.RESOLVED
