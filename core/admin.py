from django.contrib import admin

from accounts.admin import ReadOnlyAdmin
from core.models import IdempotencyRecord, MetricValue, NamedLock, RateLimitBucket


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ["key", "tenant", "state", "response_status", "created_at", "expires_at"]
    list_filter = ["state"]
    search_fields = ["key", "tenant__slug"]
    list_select_related = ["tenant"]


@admin.register(RateLimitBucket)
class RateLimitBucketAdmin(ReadOnlyAdmin):
    list_display = ["key", "updated_at"]
    search_fields = ["key"]


@admin.register(NamedLock)
class NamedLockAdmin(ReadOnlyAdmin):
    list_display = ["name", "expires_at"]
    search_fields = ["name"]


@admin.register(MetricValue)
class MetricValueAdmin(ReadOnlyAdmin):
    list_display = ["name", "field", "value"]
    list_filter = ["name"]
    search_fields = ["name", "field"]
