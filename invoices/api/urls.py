from rest_framework.routers import SimpleRouter

from invoices.api.views import ClientViewSet, InvoiceViewSet

router = SimpleRouter(trailing_slash=False)
router.register("clients", ClientViewSet, basename="client")
router.register("invoices", InvoiceViewSet, basename="invoice")

urlpatterns = router.urls
