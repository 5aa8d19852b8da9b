from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.response import Response

from accounts.api.scoping import TenantScopedMixin
from core.idempotency import idempotent
from core.locations import created_headers
from core.validation import ListFiltersMixin, list_query
from sharelinks.api.serializers import (
    ShareLinkCreatedSerializer,
    ShareLinkCreateSerializer,
    ShareLinkListQuerySerializer,
    ShareLinkSerializer,
)
from sharelinks.models import PublicLink
from sharelinks.services import share_link_create, share_link_revoke, share_link_url


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("active", bool, description="Revoked or cleaned up, or not."),
            OpenApiParameter(
                "usable",
                bool,
                description="Opens now, or answers 404 (inactive, expired, used up).",
            ),
        ]
    )
)
class ShareLinkViewSet(
    ListFiltersMixin,
    TenantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Public links to the workspace's decks, stories, flashcard sets, skill trees, images and invoice
    PDFs. The link itself is shown once, when created; DELETE deactivates it."""

    queryset = PublicLink.objects.select_related("tenant")
    serializer_class = ShareLinkSerializer
    query_serializer_class = ShareLinkListQuerySerializer

    def filter_list(self, links):
        query = list_query(self)
        if "active" in query:
            links = links.filter(is_active=query["active"])
        if "usable" in query:
            links = links.usable() if query["usable"] else links.unusable()
        return links

    @extend_schema(request=ShareLinkCreateSerializer, responses={201: ShareLinkCreatedSerializer})
    @idempotent(secret_fields=("url",))
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
        return Response(
            ShareLinkCreatedSerializer(link).data,
            status=status.HTTP_201_CREATED,
            headers=created_headers(self, link.pk),
        )

    def perform_destroy(self, link):
        share_link_revoke(link=link, actor=self.request.user.actor)
