from django.contrib import admin, messages

from accounts.admin import (
    AuditedAdmin,
    LargeTableAdmin,
    ReadOnlyAdmin,
    WorkspaceFilter,
    selection_too_big,
)
from sharelinks.models import PublicLink, PublicLinkEvent
from sharelinks.services import share_link_revoke


class OpensNowFilter(admin.SimpleListFilter):
    title = "opens now"
    parameter_name = "opens_now"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No: deactivated, expired or used up")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.usable()
        if self.value() == "no":
            return queryset.unusable()
        return queryset


@admin.register(PublicLink)
class PublicLinkAdmin(AuditedAdmin):
    list_display = [
        "token_prefix",
        "resource_type",
        "resource_id",
        "tenant",
        "is_active",
        "opens_now",
        "view_count",
        "max_views",
        "expires_at",
        "created_at",
    ]
    list_filter = [
        OpensNowFilter,
        "is_active",
        "resource_type",
        "deactivated_reason",
        WorkspaceFilter,
    ]
    search_fields = ["token_prefix", "resource_id", "tenant__slug"]
    list_select_related = ["tenant"]
    exclude = ["token_hash"]
    # What a link opens, and whether it is revoked, are set once (by the API and the "Deactivate"
    # action): staff adjust only its expiry and its view limit.
    readonly_fields = [
        "token_prefix",
        "tenant",
        "resource_type",
        "resource_id",
        "is_active",
        "view_count",
        "deactivated_at",
        "deactivated_reason",
        "created_by_key",
        "created_by_user",
        "created_at",
    ]
    actions = ["deactivate"]

    @admin.display(boolean=True, description="Opens now")
    def opens_now(self, link):
        return link.is_usable

    def has_add_permission(self, request):
        # A link's token is only ever shown to whoever creates it through the API.
        return False

    @admin.action(description="Deactivate the selected links", permissions=["change"])
    def deactivate(self, request, queryset):
        if selection_too_big(request, queryset, command="manage.py revoke_share_link"):
            return
        deactivated = 0
        for link in queryset.filter(is_active=True).select_related("tenant"):
            share_link_revoke(link=link, actor=request.user)
            deactivated += 1
        messages.success(request, f"Deactivated {deactivated} links.")


@admin.register(PublicLinkEvent)
class PublicLinkEventAdmin(LargeTableAdmin, ReadOnlyAdmin):
    list_display = ["created_at", "link", "kind", "user_agent", "client_hash"]
    list_filter = ["kind", "user_agent"]
    search_fields = ["link__token_prefix"]
    list_select_related = ["link"]
    date_hierarchy = "created_at"
