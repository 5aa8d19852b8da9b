from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerSplitView

from core.schema_view import SchemaApi

admin.site.site_header = "Offload administration"
admin.site.site_title = "Offload admin"
admin.site.index_title = "Workspaces, jobs and their work"
# "View site": the product has no home page of its own; its API documentation is the front door.
admin.site.site_url = "/api/docs/"
handler400 = "core.errors.bad_request"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SchemaApi.as_view(), name="schema"),
    # The page's script is served apart (?script): the site's policy allows no inline script.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="schema", template_name="api/docs.html"),
        name="swagger-ui",
    ),
    path("api/v1/", include("config.api_urls")),
    path("", include("generations.urls")),
    path("", include("sharelinks.urls")),
]
