from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from accounts.api.scoping import TenantScopedMixin
from core.errors import InvalidRequest
from core.idempotency import idempotent
from sharelinks.api.serializers import (
    ShareLinkCreatedSerializer,
    ShareLinkCreateSerializer,
    ShareLinkSerializer,
)
from sharelinks.models import PublicLink
from sharelinks.services import share_link_create, share_link_revoke, share_link_url


@extend_schema(parameters=[OpenApiParameter("active", bool)])
class ShareLinkViewSet(
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Public links to the workspace's decks, stories, flashcard sets, skill trees, images and invoice
    PDFs. The link itself is shown once, when created; DELETE deactivates it."""

    queryset = PublicLink.objects.all()
    serializer_class = ShareLinkSerializer

    def get_queryset(self):
        links = super().get_queryset()
        active = self.request.query_params.get("active")
        if active is not None:
            if active not in ("true", "false"):
                raise InvalidRequest(errors={"active": ["true or false."]})
            links = links.filter(is_active=active == "true")
        return links

    @extend_schema(request=ShareLinkCreateSerializer, responses={201: ShareLinkCreatedSerializer})
    @idempotent
    def create(self, request):
        params = ShareLinkCreateSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        link, token = share_link_create(
            tenant=self.tenant,
            api_key=request.user.api_key,
            user=request.user.user,
            **params.validated_data,
        )
        link.url = share_link_url(token)
        return Response(ShareLinkCreatedSerializer(link).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, link):
        share_link_revoke(link=link, actor=self.request.user.actor)
