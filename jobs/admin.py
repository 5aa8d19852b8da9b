import uuid
from collections import Counter
from collections.abc import Callable

from django.contrib import admin, messages
from django.contrib.admin import actions as admin_actions
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.forms.models import BaseInlineFormSet
from django.urls import path, reverse
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.http import urlencode

from accounts.admin import (
    ChoicesListFilter,
    LargeTableAdmin,
    OwnedRecordsGo,
    ReadOnlyAdmin,
    WorkspaceFilter,
    selection_too_big,
)
from core.errors import ApiError
from core.queries import column_values
from jobs.dashboard import queue_dashboard_view
from jobs.models import BeatSeen, Job, JobEvent, Priority, TaskRun, WorkerSeen
from jobs.registry import job_types
from jobs.selectors import NEEDING_ATTENTION
from jobs.services import job_cancel, job_requeue, job_retry

# A job's page shows this many of its latest events: a job waiting on a provider's rate limit
# writes a line each time it looks again, thousands in an hour.
HISTORY_SHOWN = 50
REFUSALS_SHOWN = 20


def _as_uuid(term: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(term.strip())
    except ValueError:
        return None


class DeadLetterFilter(admin.SimpleListFilter):
    title = "dead letter"
    parameter_name = "dead_letter"

    def lookups(self, request, model_admin):
        return [("yes", "Failed for good")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.dead_letter()
        return queryset


class DueFilter(admin.SimpleListFilter):
    """The pending jobs a worker may start now: not those whose retry or start is still ahead."""

    title = "due"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("yes", "Due now (pending, not waiting for a later start)")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.due()
        return queryset


class AttentionFilter(admin.SimpleListFilter):
    """What an operator looks at first: jobs whose worker is gone, that nobody takes, or that fail."""

    title = "needs attention"
    parameter_name = "attention"
    kinds = NEEDING_ATTENTION

    def lookups(self, request, model_admin):
        return [(value, label) for value, (label, _) in self.kinds.items()]

    def queryset(self, request, queryset):
        if self.value() not in self.kinds:
            return queryset
        return getattr(queryset, self.kinds[self.value()][1])()


class JobTypeFilter(ChoicesListFilter):
    """The registered job types, not the values of the column (read from every job)."""

    title = "type"
    parameter_name = "type"

    @property
    def values(self):
        return [job_type.name for job_type in job_types()]


class QueueFilter(ChoicesListFilter):
    """The priority column by the name the API, the workers and the dashboard give it: the queue,
    urgent, normal or batch. Its parameter is the one the dashboard's links choose."""

    title = "queue"
    parameter_name = "priority__exact"
    values = Priority.values


class TaskNameFilter(ChoicesListFilter):
    """The tasks that ran, each found in the (name, started_at) index with one step: listing the
    column's values as a field's filter does reads every run."""

    title = "name"
    parameter_name = "name"

    @cached_property
    def values(self):
        return column_values(TaskRun, "name")


class LatestEventsFormSet(BaseInlineFormSet):
    def get_queryset(self):
        if not hasattr(self, "_latest"):
            self._latest = super().get_queryset()[:HISTORY_SHOWN]
        return self._latest


class JobEventInline(admin.TabularInline):
    model = JobEvent
    formset = LatestEventsFormSet
    ordering = ["-created_at", "-id"]
    verbose_name_plural = "latest events"
    extra = 0
    can_delete = False
    fields = ["created_at", "attempt", "kind", "message", "actor"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        # A job's latest events are part of its page, for whoever may see the job.
        return request.user.has_perm("jobs.view_job") or request.user.has_perm("jobs.change_job")


@admin.register(Job)
class JobAdmin(OwnedRecordsGo, LargeTableAdmin):
    list_display = [
        "id",
        "type",
        "status",
        "queue",
        "tenant",
        "progress",
        "attempts",
        "error_code",
        "created_at",
        "finished_at",
    ]
    list_filter = [
        AttentionFilter,
        DeadLetterFilter,
        DueFilter,
        "status",
        QueueFilter,
        JobTypeFilter,
        "created_at",
        WorkspaceFilter,
    ]
    # A pasted job id is looked up by primary key (get_search_results); any other term finds
    # workspaces by slug, and their jobs through the workspace index. Words of a type, key or
    # error code would make every search read the whole table: the filters narrow by type.
    search_fields = ["tenant__slug"]
    search_help_text = "A job id, or a workspace's slug."
    list_select_related = ["tenant"]
    # Newest or oldest first, read in order from the index on the submission time. By any other
    # column (finished, error code, attempts, progress have no index; a type or a status is a
    # group of tens of thousands of jobs to sort) a page sorts every job: the filters narrow by
    # status, type, queue and workspace instead.
    sortable_by = ["created_at"]
    raw_id_fields = ["tenant", "api_key", "submitted_by", "retry_of"]
    readonly_fields = [*(field.name for field in Job._meta.fields), "history"]
    inlines = [JobEventInline]
    actions = ["delete_selected", "retry_jobs", "cancel_jobs", "requeue_jobs"]

    def has_add_permission(self, request):
        return False

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        # The history line links to Job events, which only those who may view them open.
        if not request.user.has_perm("jobs.view_jobevent"):
            return [name for name in fields if name != "history"]
        return fields

    def delete_model(self, request, obj):
        self.delete_queryset(request, Job.objects.filter(pk=obj.pk))

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        # Shown as what protects them: the page refuses the deletion.
        running = [
            f"Job {job.pk} is processing: cancel it first, and delete it once it has stopped."
            for job in objs
            if job.status == Job.Status.PROCESSING
        ]
        return deleted, counts, perms_needed, [*protected, *running]

    def delete_queryset(self, request, queryset):
        # A pending job is canceled before it goes, as its cancel would have: its credits back, its
        # story failed, its invoice no longer waiting for it. One a worker took meanwhile stays.
        with transaction.atomic():
            pending = queryset.filter(status=Job.Status.PENDING).select_related("tenant")
            for job in pending.select_for_update(of=("self",)):
                job_cancel(job=job, actor=request.user)
            super().delete_queryset(request, queryset.exclude(status=Job.Status.PROCESSING))

    def get_urls(self):
        dashboard = path(
            "dashboard/", self.admin_site.admin_view(self.dashboard_view), name="jobs_dashboard"
        )
        return [dashboard, *super().get_urls()]

    def dashboard_view(self, request):
        """Every workspace's queues, workers and alerts: for staff who may see the jobs."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        return queue_dashboard_view(request)

    def get_search_results(self, request, queryset, search_term):
        job_id = _as_uuid(search_term)
        if job_id is None:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(pk=job_id), False

    @admin.display(description="history")
    def history(self, job):
        count = job.events.count()
        url = f"{reverse('admin:jobs_jobevent_changelist')}?{urlencode({'q': job.pk})}"
        return format_html(
            '<a href="{}">All {} events</a> in Job events; the latest {} below, newest first.',
            url,
            f"{count:,}",
            min(count, HISTORY_SHOWN),
        )

    def _apply(self, request, queryset, act: Callable[[Job], str], *, command: str) -> None:
        """Apply `act` to each selected job and report each outcome once: `act` calls a service
        and returns what became of the job, with {count} standing for the jobs it fits. What a
        service refused is listed (the first REFUSALS_SHOWN) and counted."""
        if selection_too_big(request, queryset, command=command):
            return
        outcomes, refused = Counter(), []
        for job in queryset.select_related("tenant"):
            try:
                outcomes[act(job)] += 1
            except ApiError as exc:
                refused.append(f"Job {job.pk}: {exc.detail}")
        for outcome, count in outcomes.items():
            messages.success(request, outcome.format(count=count))
        for reason in refused[:REFUSALS_SHOWN]:
            messages.warning(request, reason)
        if len(refused) > REFUSALS_SHOWN:
            messages.warning(
                request, f"{len(refused) - REFUSALS_SHOWN} more jobs were not changed."
            )

    @admin.action(
        description=admin_actions.delete_selected.short_description, permissions=["delete"]
    )
    def delete_selected(self, request, queryset):
        """The site's "Delete selected" (accounts.admin.delete_selected), naming the command that
        cleans a selection too big for it."""
        command = (
            "manage.py clean_queue --status <status>…, which deletes finished jobs and cancels "
            "pending ones"
        )
        if selection_too_big(request, queryset, command=command):
            return None
        return admin_actions.delete_selected(self, request, queryset)

    @admin.action(description="Retry as new jobs (failed or canceled)", permissions=["change"])
    def retry_jobs(self, request, queryset):
        def retry(job: Job) -> str:
            job_retry(job=job, user=request.user)
            return "Retried {count} job(s)."

        self._apply(request, queryset, retry, command="manage.py retry_job <id>…")

    @admin.action(description="Cancel (pending or processing)", permissions=["change"])
    def cancel_jobs(self, request, queryset):
        def cancel(job: Job) -> str:
            if job_cancel(job=job, actor=request.user).is_finished:
                return "Canceled {count} job(s)."
            return (
                "Asked {count} processing job(s) to stop: each ends canceled at its next check, "
                "or when the stale-job reaper finds its worker gone."
            )

        self._apply(
            request,
            queryset,
            cancel,
            command="manage.py clean_queue --status pending, or manage.py cancel_job <id>…",
        )

    @admin.action(
        description="Requeue the dead letter (failed or canceled)", permissions=["change"]
    )
    def requeue_jobs(self, request, queryset):
        def requeue(job: Job) -> str:
            job_requeue(job=job, actor=request.user)
            return "Requeued {count} job(s)."

        self._apply(request, queryset, requeue, command="manage.py requeue_job <id>…")


@admin.register(JobEvent)
class JobEventAdmin(LargeTableAdmin, ReadOnlyAdmin):
    list_display = ["created_at", "job", "attempt", "kind", "message", "actor"]
    list_filter = ["kind"]
    ordering = ["-created_at", "-id"]
    search_fields = ["message"]
    search_help_text = "A job id (that job's history), or words of a message."
    list_select_related = ["job"]
    # The history of every job is the largest table: ordered by anything else, a page sorts it all.
    sortable_by = ["created_at"]

    def get_search_results(self, request, queryset, search_term):
        job_id = _as_uuid(search_term)
        if job_id is None:
            return super().get_search_results(request, queryset, search_term)
        return queryset.filter(job_id=job_id), False


@admin.register(TaskRun)
class TaskRunAdmin(LargeTableAdmin, ReadOnlyAdmin):
    list_display = ["name", "started_at", "finished_at", "outcome", "counts", "short_error"]
    # The days by a date filter: a date hierarchy reads every run for the years, months or days
    # it offers.
    list_filter = [TaskNameFilter, "outcome", "started_at"]
    search_fields = ["name", "error"]
    # Newest or oldest first, read in order from the index on the start. By any other column a
    # page sorts every run (the sweeper and the reaper each add one a minute): the filters narrow
    # by task and outcome instead.
    sortable_by = ["started_at"]

    @admin.display(description="error")
    def short_error(self, run):
        return run.error[:120]


@admin.register(WorkerSeen)
class WorkerSeenAdmin(ReadOnlyAdmin):
    list_display = [
        "hostname",
        "pid",
        "queues",
        "concurrency",
        "started_at",
        "last_seen_at",
        "stopped_at",
    ]
    search_fields = ["hostname"]

    def has_delete_permission(self, request, obj=None):
        # A worker's row may go (a machine retired), for staff whose permissions say so.
        return admin.ModelAdmin.has_delete_permission(self, request, obj)


@admin.register(BeatSeen)
class BeatSeenAdmin(ReadOnlyAdmin):
    """Each beat's last tick (the last day's): two ticking at once send every schedule twice."""

    list_display = ["hostname", "pid", "started_at", "last_seen_at", "stopped_at"]
