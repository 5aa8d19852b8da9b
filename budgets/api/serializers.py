from decimal import ROUND_HALF_UP, Decimal

from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from budgets.models import (
    PERCENTAGE_DIGITS,
    BudgetAlert,
    MaterialEntry,
    Project,
    ProjectBudget,
    TimeEntry,
    alert_thresholds_validate,
)
from core.validation import (
    FilterChoiceField,
    FilterIdField,
    KnownFieldsOnly,
    WorkspaceObjectField,
    name_search_field,
)

POSITIVE = {"min_value": Decimal("0.01")}


class NumberField(serializers.FloatField):
    """A JSON number: true and false, which Python takes for 1 and 0, are refused."""

    def to_internal_value(self, data):
        if isinstance(data, bool):
            self.fail("invalid")
        return super().to_internal_value(data)


class TrueOrFalseField(serializers.BooleanField):
    """A JSON true or false: "yes", "on" or 1, which DRF would take, are refused, as the admin
    refuses them."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class BudgetField(serializers.DecimalField):
    """A budget amount, or null for none: an empty text is refused, as any other text that is no
    number (DRF reads it as null, for HTML forms, which would drop the budget)."""

    def __init__(self, **kwargs):
        super().__init__(decimal_places=2, allow_null=True, required=False, **POSITIVE, **kwargs)

    def validate_empty_values(self, data):
        if isinstance(data, str) and not data.strip():
            self.fail("invalid")
        return super().validate_empty_values(data)


class ThresholdSerializer(KnownFieldsOnly, serializers.Serializer):
    type = serializers.ChoiceField(choices=["hours", "material", "total"])
    percentage = NumberField(min_value=0.01, max_value=1000)
    notify = TrueOrFalseField(default=True)


class ProjectBudgetSerializer(KnownFieldsOnly, serializers.ModelSerializer):
    hours_budget = BudgetField(max_digits=10)
    material_budget = BudgetField(max_digits=14)
    total_budget = BudgetField(max_digits=14)
    alert_thresholds = ThresholdSerializer(many=True, required=False)

    class Meta:
        model = ProjectBudget
        fields = [
            "hours_budget",
            "material_budget",
            "total_budget",
            "alert_thresholds",
            "updated_at",
        ]
        read_only_fields = ["updated_at"]

    def validate_alert_thresholds(self, thresholds):
        thresholds = [dict(threshold) for threshold in thresholds]
        try:
            alert_thresholds_validate(thresholds)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc
        return thresholds


class ProjectListQuerySerializer(serializers.Serializer):
    status = FilterChoiceField(choices=Project.Status.choices, required=False)
    search = name_search_field()


class EntryListQuerySerializer(serializers.Serializer):
    project = FilterIdField("project", required=False)


class BudgetAlertListQuerySerializer(serializers.Serializer):
    status = FilterChoiceField(choices=BudgetAlert.Status.choices, required=False)
    project = FilterIdField("project", required=False)


class ProjectSerializer(KnownFieldsOnly, serializers.ModelSerializer):
    budget = ProjectBudgetSerializer(
        read_only=True, allow_null=True, help_text="null until a budget is set."
    )

    class Meta:
        model = Project
        fields = ["id", "name", "status", "hourly_rate", "budget", "created_at"]
        read_only_fields = ["created_at"]

    def validate(self, attrs):
        # The budget is sent back as read (a GET's body PATCHed back) or set where it is set:
        # a changed one here would be dropped while the answer says 200.
        if isinstance(self.initial_data, dict) and "budget" in self.initial_data:
            budget = getattr(self.instance, "budget", None) if self.instance else None
            shown = ProjectBudgetSerializer(budget).data if budget is not None else None
            if self.initial_data["budget"] != shown:
                where = (
                    f"/api/v1/projects/{self.instance.pk}/budget"
                    if self.instance
                    else "/api/v1/projects/{id}/budget once the project exists"
                )
                raise serializers.ValidationError({"budget": [f"Set it with PUT {where}."]})
        return attrs


class TenantProjectField(WorkspaceObjectField):
    """An active project of the caller's workspace."""

    def __init__(self, **kwargs):
        super().__init__(Project, **kwargs)

    def to_internal_value(self, data):
        project = super().to_internal_value(data)
        if project.status == Project.Status.ARCHIVED:
            raise serializers.ValidationError(
                "The project is archived: set its status to active to record on it."
            )
        return project


class TimeEntrySerializer(KnownFieldsOnly, serializers.ModelSerializer):
    project = TenantProjectField()
    rate = serializers.DecimalField(
        max_digits=10,
        decimal_places=2,
        min_value=Decimal("0"),
        required=False,
        help_text="Defaults to the project's.",
    )

    class Meta:
        model = TimeEntry
        fields = ["id", "project", "date", "hours", "rate", "description", "created_at"]
        read_only_fields = ["created_at"]

    def validate(self, attrs):
        # A new entry, or one moved to another project, takes the project's rate unless it names
        # one; an entry changed on its own project keeps the rate it was recorded at.
        project = attrs.get("project")
        moved = self.instance is None or (project and project.pk != self.instance.project_id)
        if "rate" not in attrs and moved:
            attrs["rate"] = project.hourly_rate
        return attrs


class MaterialEntrySerializer(KnownFieldsOnly, serializers.ModelSerializer):
    project = TenantProjectField()

    class Meta:
        model = MaterialEntry
        fields = ["id", "project", "date", "amount", "description", "created_at"]
        read_only_fields = ["created_at"]


class UsageLineSerializer(serializers.Serializer):
    # Shown to the cent as an invoice rounds its lines: half up (2.525 is 2.53).
    used = serializers.DecimalField(max_digits=20, decimal_places=2, rounding=ROUND_HALF_UP)
    budget = serializers.DecimalField(max_digits=20, decimal_places=2, allow_null=True)
    percentage = serializers.DecimalField(
        max_digits=PERCENTAGE_DIGITS, decimal_places=2, allow_null=True
    )


class UsageSerializer(serializers.Serializer):
    hours = UsageLineSerializer()
    material = UsageLineSerializer()
    total = UsageLineSerializer()


class BudgetAlertSerializer(serializers.ModelSerializer):
    project_name = serializers.CharField(source="project.name", read_only=True)

    class Meta:
        model = BudgetAlert
        fields = [
            "id",
            "project",
            "project_name",
            "type",
            "threshold",
            "current_percentage",
            "status",
            "created_at",
            "resolved_at",
        ]
        read_only_fields = fields
