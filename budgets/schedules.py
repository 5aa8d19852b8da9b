from core.scheduling import Schedule


def schedules() -> list[Schedule]:
    return [
        Schedule(
            name="budget-alert-check", task="budgets.budget_alert_check", crontab="*/15 * * * *"
        )
    ]
