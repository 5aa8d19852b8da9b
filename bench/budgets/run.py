"""The budget alert check against a per-project loop like the source document's, same data, same run.

    python bench/budgets/run.py [--projects 10000] [--entries 1000000]

Seeds PostgreSQL (database offload_bench_budgets) with projects that each have a budget and alert
thresholds, and time and material entries spread over them; then times our check and a loop that,
per project, queries its usage and looks up its alerts. Prints both times and the ratio (targets:
ours >= 20x faster and under 5 s for 10,000 projects).
"""

import argparse
import io
import os
import random
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.common import bench_env, prepare_database  # noqa: E402

THRESHOLDS = [{"type": "hours", "percentage": 80}, {"type": "total", "percentage": 90}]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--projects", type=int, default=10_000)
    parser.add_argument("--entries", type=int, default=1_000_000)
    args = parser.parse_args()
    env = bench_env("budgets")
    prepare_database(env)
    os.environ.update(env)
    import django

    django.setup()
    seeded = time.monotonic()
    _seed(args.projects, args.entries)
    print(
        f"seeded {args.projects} projects and {args.entries} entries in {time.monotonic() - seeded:.1f}s"
    )

    from budgets.models import BudgetAlert
    from budgets.services import budget_alert_check

    started = time.monotonic()
    loop_counts = _per_project_loop()
    loop_seconds = time.monotonic() - started
    BudgetAlert.objects.all().delete()

    started = time.monotonic()
    ours = budget_alert_check()
    ours_seconds = time.monotonic() - started
    assert ours["alerts_created"] == loop_counts, (ours, loop_counts)

    print(f"alerts raised by each: {loop_counts}")
    print(f"per-project loop : {loop_seconds:8.2f} s")
    print(f"our check        : {ours_seconds:8.2f} s")
    print(
        f"ratio            : {loop_seconds / ours_seconds:8.1f}x faster  (target >= 20x, ours < 5 s)"
    )


def _seed(projects: int, entries: int) -> None:
    from django.db import connection

    from accounts.models import Tenant
    from budgets.models import Project, ProjectBudget

    tenant = Tenant.objects.create(slug="bench", name="Bench")
    Project.objects.bulk_create(
        [
            Project(tenant=tenant, name=f"Project {i}", hourly_rate=Decimal("100"))
            for i in range(projects)
        ],
        batch_size=5000,
    )
    ids = list(Project.objects.values_list("pk", flat=True))
    ProjectBudget.objects.bulk_create(
        [
            ProjectBudget(
                tenant=tenant,
                project_id=pk,
                hours_budget=Decimal("60"),
                total_budget=Decimal("9000"),
                alert_thresholds=THRESHOLDS,
            )
            for pk in ids
        ],
        batch_size=5000,
    )
    rng = random.Random(7)
    half = entries // 2
    with connection.cursor() as cursor:
        _copy(
            cursor,
            "budgets_timeentry",
            ["tenant_id", "project_id", "date", "hours", "rate", "description", "created_at"],
            (
                f"{tenant.pk}\t{rng.choice(ids)}\t2026-01-01\t{rng.randint(1, 20) / 10}\t100\t\t2026-01-01 00:00:00+00"
                for _ in range(half)
            ),
        )
        _copy(
            cursor,
            "budgets_materialentry",
            ["tenant_id", "project_id", "date", "amount", "description", "created_at"],
            (
                f"{tenant.pk}\t{rng.choice(ids)}\t2026-01-01\t{rng.randint(1, 300)}\t\t2026-01-01 00:00:00+00"
                for _ in range(entries - half)
            ),
        )
        cursor.execute("ANALYZE")


def _copy(cursor, table: str, columns: list[str], rows) -> None:
    buffer = io.StringIO("\n".join(rows) + "\n")
    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        while chunk := buffer.read(1 << 20):
            copy.write(chunk)


def _per_project_loop() -> int:
    """The source document's shape: for each project, its usage, then its alerts, one by one."""
    from django.db.models import F, Sum

    from budgets.models import BudgetAlert, MaterialEntry, Project, TimeEntry

    created = 0
    for project in Project.objects.filter(status="active", budget__isnull=False).select_related(
        "budget"
    ):
        budget = project.budget
        time_used = TimeEntry.objects.filter(project=project).aggregate(
            h=Sum("hours"), c=Sum(F("hours") * F("rate"))
        )
        material = (
            MaterialEntry.objects.filter(project=project).aggregate(m=Sum("amount"))["m"] or 0
        )
        hours, cost = time_used["h"] or 0, time_used["c"] or 0
        usage = {
            "hours": hours * 100 / budget.hours_budget,
            "total": (cost + material) * 100 / budget.total_budget,
        }
        for threshold in budget.alert_thresholds:
            current = usage[threshold["type"]]
            if current < threshold["percentage"]:
                continue
            exists = BudgetAlert.objects.filter(
                project=project,
                type=threshold["type"],
                threshold=threshold["percentage"],
                status="active",
            ).exists()
            if not exists:
                BudgetAlert.objects.create(
                    tenant_id=project.tenant_id,
                    project=project,
                    type=threshold["type"],
                    threshold=threshold["percentage"],
                    current_percentage=round(current, 2),
                )
                created += 1
    return created


if __name__ == "__main__":
    main()
