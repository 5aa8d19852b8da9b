from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api.views import (
    ApiKeyViewSet,
    AuditEventListApi,
    CreditEntryListApi,
    MeApi,
    NotificationDetailApi,
    NotificationListApi,
)

router = SimpleRouter(trailing_slash=False)
router.register("api-keys", ApiKeyViewSet, basename="api-key")

urlpatterns = [
    path("me", MeApi.as_view(), name="me"),
    path("credit-entries", CreditEntryListApi.as_view(), name="credit-entries"),
    path("audit-events", AuditEventListApi.as_view(), name="audit-events"),
    path("notifications", NotificationListApi.as_view(), name="notification-list"),
    path("notifications/<int:pk>", NotificationDetailApi.as_view(), name="notification-detail"),
    *router.urls,
]
