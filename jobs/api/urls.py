from django.urls import path

from jobs.api.views import (
    JobCancelApi,
    JobDetailApi,
    JobEventListApi,
    JobListCreateApi,
    JobRetryApi,
    QueueStatsApi,
)

urlpatterns = [
    path("jobs", JobListCreateApi.as_view(), name="job-list"),
    path("jobs/<id:pk>", JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<id:pk>/events", JobEventListApi.as_view(), name="job-events"),
    path("jobs/<id:pk>/cancel", JobCancelApi.as_view(), name="job-cancel"),
    path("jobs/<id:pk>/retry", JobRetryApi.as_view(), name="job-retry"),
    path("queue/stats", QueueStatsApi.as_view(), name="queue-stats"),
]
