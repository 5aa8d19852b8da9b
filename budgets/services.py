import logging
from collections import defaultdict
from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import Truncator

from accounts.models import AuditEvent, Notification
from accounts.services import (
    NOTIFICATION_TITLE_MAX_LENGTH,
    Alert,
    audit_record,
    audit_values,
    notification_resolve_elsewhere,
    notifications_resolve,
    notify_admins,
    notify_admins_of_new_alerts,
)
from budgets.models import (
    THRESHOLD_TYPES,
    BudgetAlert,
    Project,
    ProjectBudget,
    thresholds_unbudgeted,
)
from budgets.selectors import (
    Spent,
    ZeroBudget,
    budget_percentages,
    rounded_percentage,
    spent_by_project,
)
from core.errors import Conflict, InvalidRequest

logger = logging.getLogger(__name__)

FAILING_PROJECTS_ALERT = 3
FAILURES_ALERT_KEY = "budget-check-failures"


BUDGET_UNSET = {
    "hours_budget": None,
    "material_budget": None,
    "total_budget": None,
    "alert_thresholds": [],
}


def project_budget_set(
    *, project: Project, actor=None, replace: bool = True, **fields
) -> tuple[ProjectBudget, bool]:
    """Set the project's budget, created by the first call: the fields given, the others unset
    (`replace`) or kept as they are. A threshold of a kind left without a budget is refused
    (InvalidRequest). Audited as stored: a creation with its fields, a change with the fields it
    changed, before and after; the same values again record nothing. Returns the budget and
    whether this call created it."""
    budgets = ProjectBudget.objects.select_for_update()
    with transaction.atomic():
        # Two first calls at once: the second waits here and then changes the budget the first
        # created, audited as a change of what that one stored.
        Project.objects.select_for_update().filter(pk=project.pk).exists()
        stored = budgets.filter(project=project).first()
        kept = BUDGET_UNSET
        if stored is not None and not replace:
            kept = {name: getattr(stored, name) for name in BUDGET_UNSET}
        fields = {**kept, **fields}
        amounts = {kind: fields[f"{kind}_budget"] for kind in THRESHOLD_TYPES}
        if refusals := thresholds_unbudgeted(fields["alert_thresholds"], amounts):
            raise InvalidRequest(errors={"alert_thresholds": refusals})
        old = audit_values(stored, fields) if stored else None
        budget, created = ProjectBudget.objects.update_or_create(
            project=project, defaults={"tenant_id": project.tenant_id, **fields}
        )
        new = audit_values(budgets.get(pk=budget.pk), fields)
        changed = [name for name in new if old is None or new[name] != old[name]]
        if changed:
            audit_record(
                tenant=project.tenant,
                resource=budget,
                action=AuditEvent.Action.CREATE if created else AuditEvent.Action.UPDATE,
                actor=actor,
                old=old and {name: old[name] for name in changed},
                new={name: new[name] for name in changed},
            )
    return budget, created


def project_delete(*, project: Project, actor=None) -> None:
    """Delete a project with nothing recorded against it. Logged time, material or invoices are
    history: such a project is archived instead."""
    with transaction.atomic():
        # The lock keeps an entry from being recorded between the check and the delete.
        project = Project.objects.select_for_update().get(pk=project.pk)
        recorded = [
            name
            for name, related in [
                ("time entries", project.time_entries),
                ("material entries", project.material_entries),
                ("invoices", project.invoices),
            ]
            if related.exists()
        ]
        if recorded:
            raise Conflict(
                f'The project has {" and ".join(recorded)}; archive it instead (status "archived").'
            )
        audit_record(
            tenant=project.tenant,
            resource=project,
            action=AuditEvent.Action.DELETE,
            actor=actor,
            old={"name": project.name},
        )
        project_alerts_close([project])
        project.delete()


def project_alerts_close(projects) -> None:
    """Close the notifications of the projects' active alerts, before the alerts go with them: no
    check will find those alerts again to resolve them."""
    alerts = BudgetAlert.objects.filter(project__in=projects, status=BudgetAlert.Status.ACTIVE)
    notifications_resolve(alert_keys=[alert.alert_key for alert in alerts.only("pk")])


def _wanted_alerts(project: Project, percentages: dict) -> dict[tuple[str, Decimal], BudgetAlert]:
    """(type, threshold) → the alert each crossed threshold that notifies calls for (unsaved)."""
    budget, wanted = project.budget, {}
    for threshold in budget.alert_thresholds:
        current = percentages.get(threshold["type"])
        limit = Decimal(str(threshold["percentage"])).quantize(Decimal("0.01"))
        if threshold.get("notify", True) and current is not None and current >= limit:
            wanted[(threshold["type"], limit)] = BudgetAlert(
                tenant_id=project.tenant_id,
                project=project,
                type=threshold["type"],
                threshold=limit,
                current_percentage=rounded_percentage(current),
                budget_amount=getattr(budget, f"{threshold['type']}_budget"),
            )
    return wanted


def budget_alert_check() -> dict:
    """Check every active project with a budget: raise an alert (and notify the tenant's admins)
    for each newly crossed threshold, bring the percentage of those still crossed up to date,
    resolve the alerts that no longer hold (usage fell back under
    the threshold, the threshold or the budget changed). A project whose usage cannot be computed is
    recorded in the audit log and skipped, its alerts left as they are; the others are still checked.

    The number of queries does not grow with the number of projects: the projects, two aggregates,
    the active alerts, then one update, batched inserts and the batched updates of the alerts that
    still hold (their current percentage follows the usage)."""
    checked = Project.objects.filter(status=Project.Status.ACTIVE, budget__isnull=False)
    projects = list(checked.select_related("budget", "tenant"))
    spent = spent_by_project(checked.values("pk"))
    active = defaultdict(dict)
    for alert in BudgetAlert.objects.filter(status=BudgetAlert.Status.ACTIVE):
        active[alert.project_id][(alert.type, alert.threshold)] = alert
    to_raise, to_resolve, to_update, failed = [], [], [], []
    for project in projects:
        existing = active.pop(project.pk, {})
        try:
            # Only the kinds its thresholds watch: a zero budget nothing watches fails nothing.
            kinds = {threshold["type"] for threshold in project.budget.alert_thresholds}
            percentages = budget_percentages(project.budget, spent.get(project.pk, Spent()), kinds)
            wanted = _wanted_alerts(project, percentages)
        except Exception as exc:  # noqa: BLE001 - one project's bad data must not stop the run
            failed.append(project)
            _project_failed(project, exc)
            continue
        held = set()
        for key, alert in existing.items():
            if key not in wanted or alert.budget_amount != wanted[key].budget_amount:
                to_resolve.append(alert)
                continue
            held.add(key)
            # Still crossed: its percentage follows the usage.
            if alert.current_percentage != wanted[key].current_percentage:
                alert.current_percentage = wanted[key].current_percentage
                to_update.append(alert)
        to_raise += [alert for key, alert in wanted.items() if key not in held]
    # Alerts of projects no longer checked (archived, budget removed) no longer hold either.
    to_resolve += [alert for alerts in active.values() for alert in alerts.values()]
    # Resolved first: an alert raised again (its budget changed) takes the resolved one's place.
    resolved = _alerts_resolve(to_resolve)
    raised = _alerts_raise(to_raise)
    BudgetAlert.objects.bulk_update(to_update, ["current_percentage"], batch_size=1000)
    _failures_alert(failed)
    return {
        "checked": len(projects) - len(failed),
        "alerts_created": len(raised),
        "alerts_resolved": resolved,
        "alerts_updated": len(to_update),
        "failed": len(failed),
    }


def _alerts_raise(alerts: list[BudgetAlert]) -> list[BudgetAlert]:
    """Insert the new alerts and notify each tenant's admins, one tenant at a time. A tenant's
    alerts are stored in the same transaction as their notifications: if notifying fails, they are
    not stored either, so the next run raises and notifies them again; and the failure is logged
    while the other tenants are still notified."""
    by_tenant = defaultdict(list)
    for alert in alerts:
        by_tenant[alert.project.tenant].append(alert)
    raised = []
    for tenant, tenant_alerts in by_tenant.items():
        try:
            with transaction.atomic():
                inserted = _alerts_insert(tenant_alerts)
                notify_admins_of_new_alerts(
                    tenant=tenant,
                    kind=Notification.Kind.BUDGET_ALERT,
                    alerts=[_alert_notice(alert) for alert in inserted],
                )
        except Exception:  # noqa: BLE001 - one workspace's failure must not silence the others
            logger.exception(
                "Could not raise the %d budget alerts of workspace %s; the next run tries again.",
                len(tenant_alerts),
                tenant.pk,
            )
            continue
        raised += inserted
    return raised


def _alerts_insert(alerts: list[BudgetAlert]) -> list[BudgetAlert]:
    """The partial unique constraint keeps one active alert per threshold even if another check got
    there first: then the batch is inserted row by row and the duplicates are dropped."""
    try:
        with transaction.atomic():
            return BudgetAlert.objects.bulk_create(alerts, batch_size=1000)
    except IntegrityError:
        return [alert for alert in alerts if _alert_insert(alert)]


def _alert_notice(alert: BudgetAlert) -> Alert:
    """The alert as its notification says it. A long project name is shortened so that the usage,
    which comes after it, always fits the title."""
    usage = f": {alert.type} budget at {alert.current_percentage}% (threshold {alert.threshold}%)"
    name = Truncator(alert.project.name.strip()).chars(NOTIFICATION_TITLE_MAX_LENGTH - len(usage))
    return Alert(
        title=f"{name}{usage}",
        alert_key=alert.alert_key,
        payload={
            "project": alert.project.name,
            "type": alert.type,
            "threshold": str(alert.threshold),
            "percentage": str(alert.current_percentage),
        },
    )


def _alert_insert(alert: BudgetAlert) -> bool:
    try:
        with transaction.atomic():
            alert.save(force_insert=True)
    except IntegrityError:
        alert.pk = None
        return False
    return True


def _alerts_resolve(alerts: list[BudgetAlert]) -> int:
    if not alerts:
        return 0
    resolved = BudgetAlert.objects.filter(
        pk__in=[alert.pk for alert in alerts], status=BudgetAlert.Status.ACTIVE
    ).update(status=BudgetAlert.Status.RESOLVED, resolved_at=timezone.now())
    notifications_resolve(alert_keys=[alert.alert_key for alert in alerts])
    return resolved


def _project_failed(project: Project, exc: Exception) -> None:
    logger.warning("Budget check failed for project %s: %r", project.pk, exc)
    audit_record(
        tenant=project.tenant,
        resource=project,
        action=AuditEvent.Action.UPDATE,
        metadata={"event": "budget_check_failed", "error": _failure_named(exc)},
    )


def _failure_named(exc: Exception) -> str:
    # What to fix when the data is the cause; the exception's kind too when it is not.
    return str(exc) if isinstance(exc, ZeroBudget) else f"{type(exc).__name__}: {exc}"


def _failures_alert(failed: list[Project]) -> None:
    """FAILING_PROJECTS_ALERT or more failing projects alert the platform staff and each workspace
    with one of them. The alert stays open, and is not sent again, while a run still calls for it;
    a run that no longer does closes it, so that the next incident is sent again."""
    by_tenant = defaultdict(list)
    if len(failed) >= FAILING_PROJECTS_ALERT:
        for project in failed:
            by_tenant[project.tenant].append(project.name)
    notification_resolve_elsewhere(
        alert_key=FAILURES_ALERT_KEY, still_open=[*by_tenant, None] if by_tenant else []
    )
    if not by_tenant:
        return
    for tenant, names in by_tenant.items():
        notify_admins(
            tenant=tenant,
            kind=Notification.Kind.BUDGET_CHECK_FAILURES,
            title=f"The budget check failed for {len(names)} of your projects",
            payload={"projects": ", ".join(names)},
            alert_key=FAILURES_ALERT_KEY,
        )
    notify_admins(
        tenant=None,
        kind=Notification.Kind.BUDGET_CHECK_FAILURES,
        title=f"The budget check failed for {len(failed)} projects",
        payload={"projects": len(failed)},
        alert_key=FAILURES_ALERT_KEY,
    )
