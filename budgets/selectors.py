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


KINDS = ("hours", "material", "total")


class ZeroBudget(ArithmeticError):
    """A budget of 0 (only the admin can set one), of which no percentage can be computed."""

    def __init__(self, kind: str):
        super().__init__(
            f"Its {kind} budget is 0, of which no percentage can be computed: set it above 0, "
            f"or clear it."
        )


def _percentage(kind: str, used: Decimal, budget: Decimal | None) -> Decimal | None:
    if budget is None:
        return None
    if not budget:
        raise ZeroBudget(kind)
    return used * 100 / budget


def rounded_percentage(value: Decimal | None) -> Decimal | None:
    """Rounded down to the hundredth, as thresholds are: a usage shown at a threshold has crossed
    it (79.999 % is shown 79.99 %, not 80.00 % without the 80 % alert)."""
    return None if value is None else value.quantize(Decimal("0.01"), rounding=ROUND_DOWN)


def budget_percentages(
    budget: ProjectBudget, spent: Spent, kinds=KINDS
) -> dict[str, Decimal | None]:
    """The percentage of each kind of budget `kinds` names that is used; ZeroBudget for one of 0."""
    return {
        kind: _percentage(kind, getattr(spent, kind), getattr(budget, f"{kind}_budget"))
        for kind in kinds
    }


def budget_usage(project: Project) -> dict:
    """One project's usage against its budget (the API's /usage). A zero budget has no
    percentage, rather than an error page; the others still have theirs."""
    spent = spent_by_project([project.pk]).get(project.pk, Spent())
    budget = getattr(project, "budget", None)
    usage = {}
    for kind in KINDS:
        percentage = None
        if budget:
            with contextlib.suppress(ZeroBudget):
                percentage = rounded_percentage(budget_percentages(budget, spent, [kind])[kind])
        usage[kind] = {
            "used": getattr(spent, kind),
            "budget": budget and getattr(budget, f"{kind}_budget"),
            "percentage": percentage,
        }
    return usage
