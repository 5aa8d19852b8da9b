from django.utils import timezone
from rest_framework import serializers

from core.validation import FilterBooleanField, KnownFieldsOnly
from sharelinks.models import MAX_VIEWS, PublicLink, expires_at_within_bounds
from sharelinks.resources import SHAREABLES


class ShareLinkCreateSerializer(KnownFieldsOnly, serializers.Serializer):
    resource_type = serializers.ChoiceField(choices=sorted(SHAREABLES))
    resource_id = serializers.CharField(max_length=64)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    max_views = serializers.IntegerField(
        min_value=1, max_value=MAX_VIEWS, required=False, allow_null=True
    )

    def validate_expires_at(self, value):
        if value is None:
            return value
        now = timezone.now()
        if value <= now:
            raise serializers.ValidationError("Must be in the future.")
        expires_at_within_bounds(value)
        return value


class ShareLinkListQuerySerializer(serializers.Serializer):
    active = FilterBooleanField(required=False)
    usable = FilterBooleanField(required=False)


class DeactivatedReasonField(serializers.ChoiceField):
    """The model stores "no reason" as a blank string; clients see null, as for
    `deactivated_at`."""

    def to_representation(self, value):
        return super().to_representation(value) or None


class ShareLinkSerializer(serializers.ModelSerializer):
    is_usable = serializers.BooleanField(
        read_only=True, help_text="Whether the link opens now (active, unexpired, views left)."
    )
    deactivated_reason = DeactivatedReasonField(
        choices=PublicLink.Reason.choices,
        allow_null=True,
        read_only=True,
        help_text="Why the link was deactivated; null while it is active.",
    )

    class Meta:
        model = PublicLink
        fields = [
            "id",
            "resource_type",
            "resource_id",
            "expires_at",
            "max_views",
            "view_count",
            "is_active",
            "is_usable",
            "deactivated_at",
            "deactivated_reason",
            "created_at",
        ]
        read_only_fields = fields


class ShareLinkCreatedSerializer(ShareLinkSerializer):
    url = serializers.CharField(
        allow_null=True,
        help_text="The public link. Shown once; only its hash is kept, so an idempotent replay "
        "answers null.",
    )

    class Meta(ShareLinkSerializer.Meta):
        fields = [*ShareLinkSerializer.Meta.fields, "url"]
        read_only_fields = fields
