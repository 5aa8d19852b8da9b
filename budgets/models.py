from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from accounts.models import TenantOwned, TenantScopedQuerySet

THRESHOLD_TYPES = ("hours", "material", "total")
# Enough for any usage over the smallest budget (0.01): entries sum to at most 20 digits.
PERCENTAGE_DIGITS = 24
# The API refuses a zero budget; the admin may set one (a budget check then reports it).
NOT_NEGATIVE = [MinValueValidator(Decimal("0"))]
SPENT = [MinValueValidator(Decimal("0.01"))]


THRESHOLD_KEYS = {"type", "percentage", "notify"}


def thresholds_unbudgeted(thresholds: list, budgets: dict) -> list[str]:
    """Why each threshold of a kind with no budget (`budgets`: kind → amount or None) could never
    alert, or of a kind whose budget is 0 could never be checked. Thresholds that are not valid
    are left to alert_thresholds_validate."""
    refusals = []
    for index, threshold in enumerate(thresholds):
        if not isinstance(threshold, dict) or threshold.get("type") not in THRESHOLD_TYPES:
            continue
        kind, amount = threshold["type"], budgets[threshold["type"]]
        if amount is None:
            refusals.append(
                f"Threshold {index}: there is no {kind} budget, so it would never alert."
            )
        elif not amount:
            refusals.append(
                f"Threshold {index}: the {kind} budget is 0, of which no percentage can be "
                f"computed: set it above 0."
            )
    return refusals


def alert_thresholds_validate(value) -> None:
    """A list of {type: hours|material|total, percentage: number > 0, notify: bool}."""
    if not isinstance(value, list):
        raise ValidationError("Must be a list of thresholds.")
    listed = set()
    for index, threshold in enumerate(value):
        if not isinstance(threshold, dict):
            raise ValidationError(f"Threshold {index} must be an object.")
        if unknown := sorted(set(threshold) - THRESHOLD_KEYS, key=str):
            raise ValidationError(
                f"Threshold {index}: unknown key {', '.join(map(repr, unknown))} (a threshold "
                f"has type, percentage and notify)."
            )
        if threshold.get("type") not in THRESHOLD_TYPES:
            raise ValidationError(
                f"Threshold {index}: type must be one of {', '.join(THRESHOLD_TYPES)}."
            )
        percentage = threshold.get("percentage")
        if (
            isinstance(percentage, bool)
            or not isinstance(percentage, int | float)
            or not 0 < percentage <= 1000
        ):
            raise ValidationError(
                f"Threshold {index}: percentage must be a number above 0 and at most 1000."
            )
        if round(percentage, 2) != percentage:
            raise ValidationError(f"Threshold {index}: percentage has at most two decimals.")
        if not isinstance(threshold.get("notify", True), bool):
            raise ValidationError(f"Threshold {index}: notify must be true or false.")
        # One alert per type and percentage: a second entry would leave which `notify` holds open.
        if (threshold["type"], percentage) in listed:
            raise ValidationError(
                f"Threshold {index}: {threshold['type']} at {percentage}% is already listed."
            )
        listed.add((threshold["type"], percentage))


class Project(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        ARCHIVED = "archived", "Archived"

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="projects")
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    hourly_rate = models.DecimalField(
        max_digits=10, decimal_places=2, default=Decimal("0"), validators=NOT_NEGATIVE
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


class ProjectBudget(TenantOwned, models.Model):
    """The budgets of a project, each optional, and the thresholds that raise alerts."""

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    project = models.OneToOneField(Project, on_delete=models.CASCADE, related_name="budget")
    hours_budget = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, validators=NOT_NEGATIVE
    )
    material_budget = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, validators=NOT_NEGATIVE
    )
    total_budget = models.DecimalField(
        max_digits=14, decimal_places=2, null=True, blank=True, validators=NOT_NEGATIVE
    )
    alert_thresholds = models.JSONField(
        default=list, blank=True, validators=[alert_thresholds_validate]
    )
    updated_at = models.DateTimeField(auto_now=True)

    objects = TenantScopedQuerySet.as_manager()

    def __str__(self):
        return f"Budget of {self.project}"

    def clean(self):
        super().clean()
        # The admin's thresholds box left empty means none: its form reads the empty box as null.
        if self.alert_thresholds is None:
            self.alert_thresholds = []
        if isinstance(self.alert_thresholds, list) and (
            refusals := thresholds_unbudgeted(self.alert_thresholds, self.amounts())
        ):
            raise ValidationError({"alert_thresholds": refusals})

    def amounts(self) -> dict:
        """Each kind's budget: an amount, or None where it is not set."""
        return {kind: getattr(self, f"{kind}_budget") for kind in THRESHOLD_TYPES}


class ProjectEntry(TenantOwned, models.Model):
    """What a project spent on a day: the fields time and material entries share."""

    # Indexed by the (tenant, created_at) index.
    tenant = models.ForeignKey(
        "accounts.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    date = models.DateField(default=timezone.localdate)
    description = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["-date", "-id"]
        indexes = [
            models.Index(fields=["project", "date"]),
            # A workspace's entries, newest first (the API's list): a page reads only its rows.
            models.Index(fields=["tenant", "-created_at"], name="%(class)s_tenant_newest"),
        ]

    def clean(self):
        """An archived project takes no new entries, nor entries moved onto it."""
        super().clean()
        if self.project_id is None or self.project.status != Project.Status.ARCHIVED:
            return
        before = type(self).objects.filter(pk=self.pk).values_list("project", flat=True).first()
        if before != self.project_id:
            raise ValidationError(
                {"project": "The project is archived: set its status to active to record on it."}
            )


class TimeEntry(ProjectEntry):
    # Recorded work is the project's history: a project with some is archived, never deleted.
    # Indexed by the (project, date) index.
    project = models.ForeignKey(
        Project, on_delete=models.RESTRICT, related_name="time_entries", db_index=False
    )
    hours = models.DecimalField(
        max_digits=8,
        decimal_places=2,
        validators=[*SPENT, MaxValueValidator(Decimal("24"))],
        help_text="At most 24 an entry.",
    )
    rate = models.DecimalField(
        max_digits=10,
        decimal_places=2,
        blank=True,
        validators=NOT_NEGATIVE,
        help_text="Defaults to the project's hourly rate.",
    )

    class Meta(ProjectEntry.Meta):
        verbose_name_plural = "time entries"

    def __str__(self):
        return f"{self.hours} h on {self.project} ({self.date})"

    def clean(self):
        super().clean()
        # Left empty in the admin, the rate is the project's, as an entry recorded through the API
        # without one takes.
        if self.rate is None and self.project_id is not None:
            self.rate = self.project.hourly_rate


class MaterialEntry(ProjectEntry):
    # Indexed by the (project, date) index.
    project = models.ForeignKey(
        Project, on_delete=models.RESTRICT, related_name="material_entries", db_index=False
    )
    amount = models.DecimalField(max_digits=12, decimal_places=2, validators=SPENT)

    class Meta(ProjectEntry.Meta):
        verbose_name_plural = "material entries"

    def __str__(self):
        return f"{self.amount} on {self.project} ({self.date})"


class BudgetAlert(TenantOwned, models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        RESOLVED = "resolved", "Resolved"

    tenant = models.ForeignKey("accounts.Tenant", on_delete=models.CASCADE, related_name="+")
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="alerts")
    type = models.CharField(max_length=16, choices=[(t, t) for t in THRESHOLD_TYPES])
    threshold = models.DecimalField(max_digits=7, decimal_places=2)
    current_percentage = models.DecimalField(max_digits=PERCENTAGE_DIGITS, decimal_places=2)
    budget_amount = models.DecimalField(
        max_digits=14,
        decimal_places=2,
        null=True,
        blank=True,
        help_text="The budget of its type when raised: a changed budget resolves the alert.",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    created_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)

    objects = TenantScopedQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # Two checks at once can never raise the same alert twice.
            models.UniqueConstraint(
                fields=["project", "type", "threshold"],
                condition=models.Q(status="active"),
                name="budget_alert_one_active",
            ),
        ]

    def __str__(self):
        return f"{self.project}: {self.type} at {self.current_percentage}% (≥ {self.threshold}%)"

    @property
    def alert_key(self) -> str:
        return f"budget-alert:{self.pk}"
