from django.db import transaction
from django.urls import reverse
from drf_spectacular.utils import extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.api.auditing import AuditedMixin
from accounts.api.scoping import TenantScopedMixin
from budgets.api.serializers import (
    BudgetAlertListQuerySerializer,
    BudgetAlertSerializer,
    EntryListQuerySerializer,
    MaterialEntrySerializer,
    ProjectBudgetSerializer,
    ProjectListQuerySerializer,
    ProjectSerializer,
    TimeEntrySerializer,
    UsageSerializer,
)
from budgets.models import BudgetAlert, MaterialEntry, Project, TimeEntry
from budgets.selectors import budget_usage
from budgets.services import project_budget_set, project_delete
from core.errors import Conflict, NotFound
from core.idempotency import idempotent
from core.locations import created_headers
from core.validation import ListFiltersMixin, list_query


class TenantCreateMixin:
    """Rows created through the API belong to the caller's workspace, whatever the body says."""

    @idempotent
    def create(self, request, *args, **kwargs):
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        serializer.save(tenant=self.tenant)

    def get_success_headers(self, data):
        return created_headers(self, data["id"])


@extend_schema_view(list=extend_schema(parameters=[ProjectListQuerySerializer]))
class ProjectViewSet(
    ListFiltersMixin, TenantScopedMixin, AuditedMixin, TenantCreateMixin, viewsets.ModelViewSet
):
    """Projects, their budget and their usage. A project with recorded time, material or invoices
    cannot be deleted (409): archive it."""

    queryset = Project.objects.select_related("budget").order_by("name", "id")
    serializer_class = ProjectSerializer
    query_serializer_class = ProjectListQuerySerializer

    def filter_list(self, projects):
        return projects.filter(**list_query(self))

    def perform_destroy(self, project):
        project_delete(project=project, actor=self.request.user.actor)

    @extend_schema(methods=["GET"], responses=ProjectBudgetSerializer)
    @extend_schema(
        methods=["PUT", "PATCH"],
        request=ProjectBudgetSerializer,
        responses={200: ProjectBudgetSerializer, 201: ProjectBudgetSerializer},
    )
    @action(
        detail=True,
        methods=["get", "put", "patch"],
        url_path="budget",
        serializer_class=ProjectBudgetSerializer,
    )
    def budget(self, request, pk=None):
        """GET the project's budget (404 until one is set); PUT sets the whole budget (what it
        leaves out is unset), PATCH only the fields it names. The write that creates the budget
        answers 201 with its address in `Location`; the others 200."""
        project = self.get_object()
        if request.method == "GET":
            budget = getattr(project, "budget", None)
            if budget is None:
                raise NotFound("The project has no budget yet: set one with PUT.")
            return Response(ProjectBudgetSerializer(budget).data)
        partial = request.method == "PATCH"
        serializer = ProjectBudgetSerializer(data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        budget, created = project_budget_set(
            project=project,
            actor=request.user.actor,
            replace=not partial,
            **serializer.validated_data,
        )
        if not created:
            return Response(ProjectBudgetSerializer(budget).data)
        # The budget lives at the address the request was sent to (RFC 9110: 201 for a PUT that
        # creates).
        return Response(
            ProjectBudgetSerializer(budget).data,
            status=status.HTTP_201_CREATED,
            headers={"Location": reverse("project-budget", kwargs={"pk": project.pk})},
        )

    @extend_schema(responses=UsageSerializer)
    @action(detail=True, methods=["get"], url_path="usage")
    def usage(self, request, pk=None):
        return Response(UsageSerializer(budget_usage(self.get_object())).data)


class _EntryViewSet(
    ListFiltersMixin, TenantScopedMixin, AuditedMixin, TenantCreateMixin, viewsets.ModelViewSet
):
    query_serializer_class = EntryListQuerySerializer

    def get_queryset(self):
        return super().get_queryset().select_related("project")

    def filter_list(self, entries):
        return entries.filter(**list_query(self))

    def update(self, request, *args, **kwargs):
        # Before the body is read: a PUT names the archived project, which validation refuses too.
        with transaction.atomic():
            _refuse_if_archived(self.get_object())
            return super().update(request, *args, **kwargs)

    def perform_destroy(self, entry):
        _refuse_if_archived(entry)
        super().perform_destroy(entry)


def _refuse_if_archived(entry) -> None:
    """An archived project's recorded time and material stay as they are until it is active."""
    if entry.project.status == Project.Status.ARCHIVED:
        raise Conflict("The project is archived: set its status to active to change its entries.")


@extend_schema_view(list=extend_schema(parameters=[EntryListQuerySerializer]))
class TimeEntryViewSet(_EntryViewSet):
    queryset = TimeEntry.objects.order_by("-date", "-id")
    serializer_class = TimeEntrySerializer


@extend_schema_view(list=extend_schema(parameters=[EntryListQuerySerializer]))
class MaterialEntryViewSet(_EntryViewSet):
    queryset = MaterialEntry.objects.order_by("-date", "-id")
    serializer_class = MaterialEntrySerializer


@extend_schema_view(list=extend_schema(parameters=[BudgetAlertListQuerySerializer]))
class BudgetAlertViewSet(
    ListFiltersMixin,
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    queryset = BudgetAlert.objects.select_related("project").order_by("-created_at")
    serializer_class = BudgetAlertSerializer
    query_serializer_class = BudgetAlertListQuerySerializer

    def filter_list(self, alerts):
        return alerts.filter(**list_query(self))
