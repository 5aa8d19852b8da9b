from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts.api.views import ApiKeyViewSet, AuditEventListApi, CreditEntryListApi, MeApi

router = SimpleRouter(trailing_slash=False)
router.register("api-keys", ApiKeyViewSet, basename="api-key")

urlpatterns = [
    path("me", MeApi.as_view(), name="me"),
    path("credit-entries", CreditEntryListApi.as_view(), name="credit-entries"),
    path("audit-events", AuditEventListApi.as_view(), name="audit-events"),
    *router.urls,
]
