import contextlib
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from django.db.models import DecimalField, F, Sum
from django.db.models.functions import Coalesce, Round

from budgets.models import MaterialEntry, Project, ProjectBudget, TimeEntry

ZERO = Decimal("0")
MONEY = DecimalField(max_digits=20, decimal_places=2)


@dataclass(frozen=True)
class Spent:
    hours: Decimal = ZERO
    labour: Decimal = ZERO
    material: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.labour + self.material


def spent_by_project(project_ids) -> dict[int, Spent]:
    """Hours, labour cost and material of many projects in two aggregate queries. Each entry's cost
    is money, rounded to the cent, so the usage's percentage agrees with the amounts it shows."""
    time = (
        TimeEntry.objects.filter(project_id__in=project_ids)
        .order_by()
        .values("project_id")
        .annotate(
            spent_hours=Sum("hours"),
            labour=Sum(Round(F("hours") * F("rate"), 2), output_field=MONEY),
        )
    )
    material = (
        MaterialEntry.objects.filter(project_id__in=project_ids)
        .order_by()
        .values("project_id")
        .annotate(amount=Coalesce(Sum("amount"), ZERO, output_field=MONEY))
    )
    spent = {
        row["project_id"]: Spent(hours=row["spent_hours"], labour=row["labour"]) for row in time
    }
    for row in material:
        before = spent.get(row["project_id"], Spent())
        spent[row["project_id"]] = Spent(
            hours=before.hours, labour=before.labour, material=row["amount"]
        )
    return spent


def _percentage(used: Decimal, budget: Decimal | None) -> Decimal | None:
    if budget is None:
        return None
    # A zero budget makes the percentage undefined: the caller decides what that means.
    return used * 100 / budget


def rounded_percentage(value: Decimal | None) -> Decimal | None:
    """Rounded down to the hundredth, as thresholds are: a usage shown at a threshold has crossed
    it (79.999 % is shown 79.99 %, not 80.00 % without the 80 % alert)."""
    return None if value is None else value.quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def budget_percentages(budget: ProjectBudget, spent: Spent) -> dict[str, Decimal | None]:
    return {
        "hours": _percentage(spent.hours, budget.hours_budget),
        "material": _percentage(spent.material, budget.material_budget),
        "total": _percentage(spent.total, budget.total_budget),
    }


def budget_usage(project: Project) -> dict:
    """One project's usage against its budget (the API's /usage)."""
    spent = spent_by_project([project.pk]).get(project.pk, Spent())
    budget = getattr(project, "budget", None)
    percentages = dict.fromkeys(("hours", "material", "total"))
    # A zero budget (only the admin can set one) has no percentage, rather than an error page.
    if budget:
        with contextlib.suppress(ArithmeticError):
            percentages = {
                key: rounded_percentage(value)
                for key, value in budget_percentages(budget, spent).items()
            }
    return {
        "hours": {
            "used": spent.hours,
            "budget": budget and budget.hours_budget,
            "percentage": percentages["hours"],
        },
        "material": {
            "used": spent.material,
            "budget": budget and budget.material_budget,
            "percentage": percentages["material"],
        },
        "total": {
            "used": spent.total,
            "budget": budget and budget.total_budget,
            "percentage": percentages["total"],
        },
    }
