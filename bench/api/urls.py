"""Baselines for bench/api: bare DRF endpoints with none of Offload's work, on the same server."""

from django.db import connection
from django.urls import path
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as offload_urlpatterns
from core.ratelimit import Limit, rate_limit_hit
from jobs.models import Job, TaskRun


class TaskRunSerializer(serializers.ModelSerializer):
    class Meta:
        model = TaskRun
        fields = ["id", "name", "counts", "started_at"]


class BareInsertApi(APIView):
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = []

    def post(self, request):
        serializer = TaskRunSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        serializer.save()
        return Response(serializer.data, status=201)


class BareConstantApi(APIView):
    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = []

    def get(self, request):
        return Response({"status": "pending", "progress": 0})


class FloorStatusApi(APIView):
    """The least any status poll of this design does: the limiter's one Redis script and one job
    row read by its key, with no authentication, serializer, queue position or ETag."""

    authentication_classes = []
    permission_classes = [permissions.AllowAny]
    throttle_classes = []

    def get(self, request, pk):
        rate_limit_hit([Limit("reads", "bench:floor", 10**9, 60)])
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT status, progress FROM {Job._meta.db_table} WHERE id = %s", [pk])
            status, progress = cursor.fetchone()
        return Response({"status": status, "progress": progress})


urlpatterns = [
    path("bench/insert", BareInsertApi.as_view()),
    path("bench/constant", BareConstantApi.as_view()),
    path("bench/floor/<uuid:pk>", FloorStatusApi.as_view()),
    *offload_urlpatterns,
]
