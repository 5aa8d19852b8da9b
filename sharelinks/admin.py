from django.contrib import admin, messages

from accounts.admin import AuditedAdmin, ReadOnlyAdmin, WorkspaceFilter
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
    raw_id_fields = ["tenant", "created_by_key", "created_by_user"]
    exclude = ["token_hash"]
    readonly_fields = [
        "token_prefix",
        "view_count",
        "deactivated_at",
        "deactivated_reason",
        "created_at",
    ]
    actions = ["deactivate"]

    @admin.display(boolean=True, description="Opens now")
    def opens_now(self, link):
        return link.is_usable

    def has_add_permission(self, request):
        # A link's token is only ever shown to whoever creates it through the API.
        return False

    @admin.action(description="Deactivate the selected links")
    def deactivate(self, request, queryset):
        for link in queryset.select_related("tenant"):
            share_link_revoke(link=link, actor=request.user)
        messages.success(request, f"Deactivated {queryset.count()} links.")


@admin.register(PublicLinkEvent)
class PublicLinkEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "link", "kind", "user_agent", "client_hash"]
    list_filter = ["kind", "user_agent"]
    search_fields = ["link__token_prefix"]
    list_select_related = ["link"]
    date_hierarchy = "created_at"
