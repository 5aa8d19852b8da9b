from django.urls import include, path

urlpatterns = [
    path("", include("accounts.api.urls")),
    path("", include("jobs.api.urls")),
    path("", include("generations.api.urls")),
    path("", include("budgets.api.urls")),
    path("", include("invoices.api.urls")),
    path("", include("sharelinks.api.urls")),
]
