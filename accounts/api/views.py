from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import generics, mixins, status, viewsets
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.api.scoping import TenantScopedMixin
from accounts.api.serializers import (
    ApiKeyCreatedSerializer,
    ApiKeyCreateSerializer,
    ApiKeyRevokedSerializer,
    ApiKeySerializer,
    AuditEventListQuerySerializer,
    AuditEventSerializer,
    CreditEntryListQuerySerializer,
    CreditEntrySerializer,
    MeSerializer,
    NotificationListQuerySerializer,
    NotificationSerializer,
)
from accounts.authentication import INVALID_KEY
from accounts.models import ApiKey, AuditEvent, CreditEntry, Notification, Tenant
from accounts.permissions import IsTenantAdmin
from accounts.services import api_key_create, api_key_revoke
from core.idempotency import idempotent
from core.locations import created_headers
from core.validation import list_query

# What AuditEventListQuerySerializer takes: not blank, at most 64 characters.
AUDIT_FILTER = {"type": "string", "minLength": 1, "maxLength": 64}


class MeApi(APIView):
    @extend_schema(responses=MeSerializer, summary="The caller's workspace and key")
    def get(self, request):
        principal = request.user
        try:
            principal.tenant.refresh_from_db(fields=["credit_balance"])
        except Tenant.DoesNotExist:
            # Deleted since the key was read (from the cache): the key went with it.
            raise AuthenticationFailed(INVALID_KEY) from None
        data = {"tenant": principal.tenant, "role": principal.role, "api_key": principal.api_key}
        return Response(MeSerializer(data).data)


class ApiKeyViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The workspace's API keys (tenant admins). A new key is shown once, in the create response."""

    queryset = ApiKey.objects.select_related("created_by_key").order_by("-created_at")
    serializer_class = ApiKeySerializer
    permission_classes = [IsTenantAdmin]

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    @idempotent(secret_fields=("key",))
    def create(self, request):
        params = ApiKeyCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        creator = request.user.api_key
        api_key, plaintext = api_key_create(
            tenant=self.tenant,
            created_by=request.user.user,
            actor=request.user.actor,
            # A leaked short-lived key must not make itself a lasting one, nor a key stopped or
            # slowed in the admin a fresh one free of its limits.
            expires_by=creator.expires_at if creator else None,
            rate_limit_per_minute=creator.rate_limit_per_minute if creator else None,
            rate_limit_per_day=creator.rate_limit_per_day if creator else None,
            created_by_key=creator,
            **params.validated_data,
        )
        api_key.key = plaintext
        return Response(
            ApiKeyCreatedSerializer(api_key).data,
            status=status.HTTP_201_CREATED,
            headers=created_headers(self, api_key.pk),
        )

    @extend_schema(
        responses={200: ApiKeyRevokedSerializer},
        description="Revoke the key, with the keys it made and those they made, however far "
        "down (also when it had expired or was revoked already); `revoked_with` counts them.",
    )
    def destroy(self, request, pk=None):
        api_key = self.get_object()
        api_key.revoked_with = api_key_revoke(api_key=api_key, actor=request.user.actor)
        return Response(ApiKeyRevokedSerializer(api_key).data)


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("kind", enum=CreditEntry.Kind.values),
            OpenApiParameter(
                "job", OpenApiTypes.UUID, description="Only this job's debit and refund."
            ),
        ]
    )
)
class CreditEntryListApi(TenantScopedMixin, generics.ListAPIView):
    """The workspace's credit ledger, newest first: every grant, debit and refund, with the balance
    after it."""

    queryset = CreditEntry.objects.all()
    serializer_class = CreditEntrySerializer
    query_serializer_class = CreditEntryListQuerySerializer

    def get_queryset(self):
        return super().get_queryset().filter(**list_query(self))


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("resource_type", AUDIT_FILTER, description="e.g. invoices.invoice"),
            OpenApiParameter("resource_id", AUDIT_FILTER),
            OpenApiParameter("action", enum=AuditEvent.Action.values),
        ]
    )
)
class AuditEventListApi(TenantScopedMixin, generics.ListAPIView):
    """Who changed what in the workspace, newest first (workspace admins)."""

    queryset = AuditEvent.objects.all()
    serializer_class = AuditEventSerializer
    permission_classes = [IsTenantAdmin]
    query_serializer_class = AuditEventListQuerySerializer

    def get_queryset(self):
        return super().get_queryset().filter(**list_query(self))


@extend_schema_view(
    get=extend_schema(
        parameters=[
            OpenApiParameter("status", enum=Notification.Status.values),
            OpenApiParameter("kind", enum=[kind.value for kind in Notification.WORKSPACE_KINDS]),
        ]
    )
)
class NotificationListApi(TenantScopedMixin, generics.ListAPIView):
    """The alerts sent to the workspace's admins, in-app and by email, newest first: one per alert
    and admin, open until what raised it clears (workspace admins)."""

    queryset = Notification.objects.select_related("user")
    serializer_class = NotificationSerializer
    permission_classes = [IsTenantAdmin]
    query_serializer_class = NotificationListQuerySerializer

    def get_queryset(self):
        query = list_query(self)
        notifications = super().get_queryset()
        if "status" in query:
            open_only = query["status"] == Notification.Status.OPEN
            notifications = notifications.filter(resolved_at__isnull=open_only)
        if "kind" in query:
            notifications = notifications.filter(kind=query["kind"])
        return notifications


class NotificationDetailApi(TenantScopedMixin, generics.RetrieveAPIView):
    """One alert sent to one of the workspace's admins (workspace admins)."""

    queryset = Notification.objects.select_related("user")
    serializer_class = NotificationSerializer
    permission_classes = [IsTenantAdmin]
