from django.contrib import admin
from django_celery_beat.admin import PeriodicTaskAdmin
from django_celery_beat.models import PeriodicTask

from accounts.admin import LargeTableAdmin, ReadOnlyAdmin, RelatedSearchedFirst
from core.models import IdempotencyRecord, MetricValue, NamedLock, RateLimitBucket


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(RelatedSearchedFirst, LargeTableAdmin, ReadOnlyAdmin):
    """A record of every request sent with an Idempotency-Key, kept IDEMPOTENCY_KEY_TTL_HOURS
    (a day): read newest first along the primary key, or by when they expire (indexed), and by no
    other column, which would sort every record."""

    list_display = ["key", "tenant", "state", "response_status", "created_at", "expires_at"]
    list_filter = ["state"]
    search_fields = ["key"]
    search_related = {"tenant": "slug"}
    search_help_text = "A key, or part of one; a workspace's slug."
    list_select_related = ["tenant"]
    ordering = ["-pk"]
    sortable_by = ["expires_at"]


@admin.register(RateLimitBucket)
class RateLimitBucketAdmin(ReadOnlyAdmin):
    list_display = ["key", "updated_at", "expires_at"]
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


admin.site.unregister(PeriodicTask)


@admin.register(PeriodicTask)
class ScheduleAdmin(PeriodicTaskAdmin):
    """django-celery-beat's, but its actions need the change permission, as every action that
    changes something here does: they declare none, so staff who may only view the schedules could
    pause every one of them (the health check that would tell of it included) or run them."""

    @admin.action(
        description=PeriodicTaskAdmin.enable_tasks.short_description, permissions=["change"]
    )
    def enable_tasks(self, request, queryset):
        return super().enable_tasks(request, queryset)

    @admin.action(
        description=PeriodicTaskAdmin.disable_tasks.short_description, permissions=["change"]
    )
    def disable_tasks(self, request, queryset):
        return super().disable_tasks(request, queryset)

    @admin.action(
        description=PeriodicTaskAdmin.toggle_tasks.short_description, permissions=["change"]
    )
    def toggle_tasks(self, request, queryset):
        return super().toggle_tasks(request, queryset)

    @admin.action(description=PeriodicTaskAdmin.run_tasks.short_description, permissions=["change"])
    def run_tasks(self, request, queryset):
        return super().run_tasks(request, queryset)
