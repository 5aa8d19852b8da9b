"""Baselines for bench/api: bare DRF endpoints with none of Offload's work, on the same server."""

from django.urls import path
from rest_framework import permissions, serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as offload_urlpatterns
from jobs.models import TaskRun


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


urlpatterns = [
    path("bench/insert", BareInsertApi.as_view()),
    path("bench/constant", BareConstantApi.as_view()),
    *offload_urlpatterns,
]
