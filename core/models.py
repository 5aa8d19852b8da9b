from django.db import models
from django.utils import timezone


class RateLimitBucket(models.Model):
    """A sliding-window log kept in the database when no Redis is configured (embedded default)."""

    key = models.CharField(max_length=255, unique=True)
    hits = models.JSONField(default=list)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(
        default=timezone.now,
        db_index=True,
        help_text="When its last hit leaves the window: the hourly purge deletes it after that.",
    )

    def __str__(self):
        return self.key


class MetricValue(models.Model):
    """A metric's running total for one label set, kept in the database when no Redis is
    configured (embedded default), so that /metrics adds up the web's and the workers' counts."""

    name = models.CharField(max_length=100)
    field = models.CharField(
        max_length=500, help_text="The labels (JSON), and for a histogram its part."
    )
    value = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["name", "field"], name="metric_value_unique")
        ]

    def __str__(self):
        return f"{self.name} {self.field}"


class NamedLock(models.Model):
    """A lease-based lock kept in the database when no Redis is configured (embedded default)."""

    name = models.CharField(max_length=255, primary_key=True)
    token = models.CharField(max_length=64)
    expires_at = models.DateTimeField()

    def __str__(self):
        return self.name


class IdempotencyRecord(models.Model):
    """The first response to a request made with an Idempotency-Key, kept to replay it."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight", "In flight"
        DONE = "done", "Done"

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_FLIGHT)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The JSON text of the response's data (empty while in flight), encoded as the API renders it
    # (ids as text, times in ISO 8601) and kept as text, its keys in their order, so that a replay
    # answers the same body.
    response_body = models.TextField(blank=True, default="")
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "key"], name="idempotency_key_per_tenant"),
        ]

    def __str__(self):
        return self.key
