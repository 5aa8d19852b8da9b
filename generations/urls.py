from django.urls import path, re_path

from core.public import public_link_not_found
from generations.views import generation_file, generation_view, generation_view_slashed

urlpatterns = [
    path("v/<str:token>/", generation_view, name="generation-view"),
    path("v/<str:token>/file", generation_file, name="generation-file"),
    path("v/<str:token>", generation_view_slashed),
    # Any other path under /v/ is a link that does not open.
    re_path(r"^v/", public_link_not_found),
]
