from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.views.decorators.http import require_POST

from accounts.admin import (
    AuditedAdmin,
    LargeTableAdmin,
    ReadOnlyAdmin,
    RelatedSearchedFirst,
    WorkspaceFilter,
    audited_formset_save,
)
from budgets.models import BudgetAlert, MaterialEntry, Project, ProjectBudget, TimeEntry
from budgets.services import project_alerts_close
from budgets.tasks import SKIPPED_FOR_THE_LOCK, budget_alert_check


class ProjectBudgetInline(admin.StackedInline):
    model = ProjectBudget
    extra = 0
    # The budget's workspace is its project's (ProjectAdmin.save_formset).
    fields = ["hours_budget", "material_budget", "total_budget", "alert_thresholds"]


@admin.register(Project)
class ProjectAdmin(AuditedAdmin):
    list_display = ["name", "tenant", "status", "hourly_rate", "created_at"]
    list_filter = ["status", WorkspaceFilter]
    search_fields = ["name", "tenant__slug"]
    list_select_related = ["tenant"]
    raw_id_fields = ["tenant"]
    inlines = [ProjectBudgetInline]

    def delete_model(self, request, obj):
        with transaction.atomic():
            project_alerts_close([obj])
            super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        with transaction.atomic():
            project_alerts_close(queryset)
            super().delete_queryset(request, queryset)

    def save_formset(self, request, form, formset, change):
        def in_the_projects_workspace(budget):
            budget.tenant_id = form.instance.tenant_id

        audited_formset_save(request, formset, prepare=in_the_projects_workspace)

    def get_urls(self):
        run = path(
            "run-budget-check/",
            self.admin_site.admin_view(self.run_budget_check_view),
            name="budgets_project_run_budget_check",
        )
        return [run, *super().get_urls()]

    def changelist_view(self, request, extra_context=None):
        may_run = {"may_run_budget_check": self.has_change_permission(request)}
        return super().changelist_view(request, {**(extra_context or {}), **may_run})

    @method_decorator(require_POST)
    def run_budget_check_view(self, request):
        """Check every project now: the button on the project list."""
        if not self.has_change_permission(request):
            raise PermissionDenied
        counts = budget_alert_check()
        if not counts:
            messages.warning(request, SKIPPED_FOR_THE_LOCK)
        else:
            messages.success(
                request,
                f"Budget check: projects checked: {counts['checked']}, alerts raised:"
                f" {counts['alerts_created']}, updated: {counts['alerts_updated']}, resolved:"
                f" {counts['alerts_resolved']}, projects failed: {counts['failed']}.",
            )
        return HttpResponseRedirect(reverse("admin:budgets_project_changelist"))


@admin.register(ProjectBudget)
class ProjectBudgetAdmin(AuditedAdmin):
    list_display = [
        "project",
        "tenant",
        "hours_budget",
        "material_budget",
        "total_budget",
        "updated_at",
    ]
    search_fields = ["project__name", "tenant__slug"]
    list_select_related = ["project", "tenant"]
    raw_id_fields = ["project", "tenant"]


# Every workspace's entries, the last recorded first: read back along the primary key, where the
# days worked (no index of their own) would be sorted from the whole table on every page. The date
# filter narrows a list by day; a date hierarchy would scan the table for its years on every page.
ENTRIES_NEWEST = ["-pk"]
# Sorted by the day worked when asked; by any other column (hours, amount, a description) a page
# would sort the whole table for nothing an admin looks for.
ENTRIES_SORTED_BY = ["date"]
# Words of an entry's description, its project's name or its workspace's slug.
ENTRIES_SEARCHED_WITH = {"project": "name", "tenant": "slug"}


@admin.register(TimeEntry)
class TimeEntryAdmin(RelatedSearchedFirst, LargeTableAdmin, AuditedAdmin):
    list_display = ["date", "project", "hours", "rate", "description", "tenant"]
    list_filter = ["date", WorkspaceFilter]
    search_fields = ["description"]
    search_related = ENTRIES_SEARCHED_WITH
    list_select_related = ["project", "tenant"]
    raw_id_fields = ["project", "tenant"]
    ordering = ENTRIES_NEWEST
    sortable_by = ENTRIES_SORTED_BY


@admin.register(MaterialEntry)
class MaterialEntryAdmin(RelatedSearchedFirst, LargeTableAdmin, AuditedAdmin):
    list_display = ["date", "project", "amount", "description", "tenant"]
    list_filter = ["date", WorkspaceFilter]
    search_fields = ["description"]
    search_related = ENTRIES_SEARCHED_WITH
    list_select_related = ["project", "tenant"]
    raw_id_fields = ["project", "tenant"]
    ordering = ENTRIES_NEWEST
    sortable_by = ENTRIES_SORTED_BY


@admin.register(BudgetAlert)
class BudgetAlertAdmin(ReadOnlyAdmin):
    """Alerts are the budget check's: it raises them with their notifications and resolves them
    when they no longer hold. One resolved or deleted by hand while its threshold is still crossed
    would be raised, and notified, again by the next check; so staff only read them here, and they
    go with their project or workspace."""

    list_display = [
        "project",
        "type",
        "threshold",
        "current_percentage",
        "status",
        "created_at",
        "resolved_at",
    ]
    list_filter = ["status", "type", WorkspaceFilter]
    search_fields = ["project__name", "tenant__slug"]
    list_select_related = ["project"]
