from celery import shared_task

from budgets.services import budget_alert_check as budget_alert_check_run
from jobs.runs import scheduled_run

LOCK_TTL = 14 * 60
# What run_budget_check and the project list's button say of a check skipped for the lock.
SKIPPED_FOR_THE_LOCK = (
    "Nothing was checked: another budget check is running and holds its lock (one killed midway"
    f" holds it {LOCK_TTL // 60} minutes at most). Run this again once it has ended."
)


@shared_task(
    name="budgets.budget_alert_check",
    ignore_result=True,
    autoretry_for=(Exception,),
    retry_backoff=30,
    retry_jitter=True,
    max_retries=3,
)
def budget_alert_check() -> dict:
    """The 15-minute check; never two at once. A run that fails as a whole is retried 3 times."""
    return scheduled_run("budget_alert_check", budget_alert_check_run, lock_ttl=LOCK_TTL)
