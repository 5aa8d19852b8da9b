from rest_framework.routers import SimpleRouter

from budgets.api.views import (
    BudgetAlertViewSet,
    MaterialEntryViewSet,
    ProjectViewSet,
    TimeEntryViewSet,
)

router = SimpleRouter(trailing_slash=False)
router.register("projects", ProjectViewSet, basename="project")
router.register("time-entries", TimeEntryViewSet, basename="time-entry")
router.register("material-entries", MaterialEntryViewSet, basename="material-entry")
router.register("budget-alerts", BudgetAlertViewSet, basename="budget-alert")

urlpatterns = router.urls
