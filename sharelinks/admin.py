from django.contrib import admin, messages
from django.template.defaultfilters import pluralize

from accounts.admin import (
    AuditedAdmin,
    ChoicesListFilter,
    LargeTableAdmin,
    ReadOnlyAdmin,
    RelatedSearchedFirst,
    WorkspaceFilter,
    selection_too_big,
)
from sharelinks.models import PublicLink, PublicLinkEvent, share_token_hash, share_token_named
from sharelinks.resources import SHAREABLES
from sharelinks.services import BROWSER_FAMILIES, share_link_revoke, share_links_ending


class SharedResourceAdmin(admin.ModelAdmin):
    """The deletion page of something that can be shared says how many of its links stop opening
    (they are kept, deactivated, in Share links)."""

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        ending = share_links_ending(objs).count()
        if ending:
            name = f"share link{pluralize(ending)} that stop{pluralize(ending, 's,')} opening"
            counts[f"{name} (kept, deactivated)"] = ending
            deleted.append(f"{ending} {name}: kept in Share links, deactivated")
        return deleted, counts, perms_needed, protected


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


class ResourceTypeFilter(ChoicesListFilter):
    title = "resource type"
    parameter_name = "resource_type"
    values = sorted(SHAREABLES)


class BrowserFilter(ChoicesListFilter):
    title = "browser"
    parameter_name = "user_agent"
    values = BROWSER_FAMILIES


@admin.register(PublicLink)
class PublicLinkAdmin(RelatedSearchedFirst, LargeTableAdmin, AuditedAdmin):
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
        ResourceTypeFilter,
        "deactivated_reason",
        WorkspaceFilter,
    ]
    search_fields = ["^token_prefix", "=resource_id"]
    search_related = {"tenant": "slug"}
    search_help_text = (
        "A link's URL (…/s/<token>) or token, pasted whole; the start of its token; a resource id; "
        "a workspace's slug."
    )
    list_select_related = ["tenant"]
    # The newest first, read back along the primary key: the creation time has no index of its own
    # across workspaces, and sorting a million links by it takes a third of a second a page. Nor
    # has any other column (views, expiry…): the list is sorted by none.
    ordering = ["-pk"]
    sortable_by = []
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

    def get_search_results(self, request, queryset, search_term):
        found, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        if not search_term.strip():
            return found, may_have_duplicates
        # A leaked URL or token, pasted whole, is found by its hash: only that is stored.
        token_hash = share_token_hash(share_token_named(search_term))
        return found | queryset.filter(token_hash=token_hash), may_have_duplicates

    def has_add_permission(self, request):
        # A link's token is only ever shown to whoever creates it through the API.
        return False

    @admin.action(description="Deactivate the selected links", permissions=["change"])
    def deactivate(self, request, queryset):
        if selection_too_big(request, queryset, command="manage.py revoke_share_link"):
            return
        deactivated = already = 0
        for link in queryset.select_related("tenant"):
            if not link.is_active:
                already += 1
                continue
            share_link_revoke(link=link, actor=request.user)
            deactivated += 1
        message = f"Deactivated {deactivated} link{pluralize(deactivated)}."
        if already:
            message += f" {already} {pluralize(already, 'was,were')} already inactive."
        messages.success(request, message)


@admin.register(PublicLinkEvent)
class PublicLinkEventAdmin(LargeTableAdmin, ReadOnlyAdmin):
    list_display = ["created_at", "link", "kind", "user_agent", "client_hash"]
    # By day with the date filter: a date hierarchy would read every event for its years.
    list_filter = ["kind", BrowserFilter, "created_at"]
    search_fields = ["^link__token_prefix"]
    search_help_text = "The start of its link's token."
    list_select_related = ["link"]
    # Ordered by anything but their time (indexed), a page would sort every view event.
    sortable_by = ["created_at"]
