from django.urls import path

from generations.views import generation_file, generation_view

urlpatterns = [
    path("v/<str:token>/", generation_view, name="generation-view"),
    path("v/<str:token>/file", generation_file, name="generation-file"),
]
