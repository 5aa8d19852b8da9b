from rest_framework import serializers

from accounts.models import API_KEY_MAX_DAYS, ApiKey, AuditEvent, CreditEntry, Notification, Tenant
from core.validation import FilterChoiceField, FilterJobField, KnownFieldsOnly
from core.validators import validate_printable


class TenantSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tenant
        fields = ["id", "slug", "name", "credit_balance"]


class ApiKeySerializer(serializers.ModelSerializer):
    created_by_key = serializers.SlugRelatedField(
        slug_field="prefix",
        read_only=True,
        allow_null=True,
        help_text="The prefix of the key that made it through the API (revoking that key revokes "
        "this one too); null for a key made in the admin, by manage.py create_api_key or by "
        "staff signed in to the API, or whose maker was deleted.",
    )

    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "role",
            "created_by_key",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
            "rate_limit_per_minute",
            "rate_limit_per_day",
        ]
        read_only_fields = fields


class ApiKeyCreateSerializer(KnownFieldsOnly, serializers.Serializer):
    name = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        validators=[validate_printable],
    )
    role = serializers.ChoiceField(choices=ApiKey._meta.get_field("role").choices, default="member")
    expires_in_days = serializers.IntegerField(
        min_value=1,
        max_value=API_KEY_MAX_DAYS,
        required=False,
        help_text="Days until the key expires; left out, it never expires. Asked by a key that "
        "expires itself, the new key may not outlive it: at most the whole days that key has "
        "left, and never left out (400 otherwise).",
    )


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(
        allow_null=True,
        help_text="The key itself. Shown once; store it now. null on an idempotent replay: the "
        "key is never stored.",
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ApiKeyRevokedSerializer(ApiKeySerializer):
    revoked_with = serializers.IntegerField(
        help_text="How many keys made by it (and by those, however far down) were revoked with it."
    )

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "revoked_with"]
        read_only_fields = fields


class MeSerializer(serializers.Serializer):
    tenant = TenantSerializer()
    role = serializers.ChoiceField(choices=ApiKey._meta.get_field("role").choices)
    api_key = ApiKeySerializer(allow_null=True)


class CreditEntrySerializer(serializers.ModelSerializer):
    class Meta:
        model = CreditEntry
        fields = ["id", "kind", "amount", "balance_after", "reason", "job", "created_at"]
        read_only_fields = fields


class CreditEntryListQuerySerializer(serializers.Serializer):
    kind = FilterChoiceField(choices=CreditEntry.Kind.choices, required=False)
    job = FilterJobField(required=False)


class AuditEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "resource_type",
            "resource_id",
            "action",
            "actor_type",
            "actor_label",
            "changed_fields",
            "old_values",
            "new_values",
            "metadata",
            "created_at",
        ]
        read_only_fields = fields


class AuditEventListQuerySerializer(serializers.Serializer):
    resource_type = serializers.CharField(max_length=64, required=False)
    resource_id = serializers.CharField(max_length=64, required=False)
    action = FilterChoiceField(choices=AuditEvent.Action.choices, required=False)


class NotificationRecipientSerializer(serializers.Serializer):
    username = serializers.CharField()
    email = serializers.CharField(help_text="The admin's email address; empty if they have none.")


class NotificationSerializer(serializers.ModelSerializer):
    recipient = NotificationRecipientSerializer(source="user", read_only=True)
    status = serializers.ChoiceField(
        choices=Notification.Status.choices,
        read_only=True,
        help_text="`open` until what raised it clears, then `resolved` (with `resolved_at`).",
    )

    class Meta:
        model = Notification
        fields = [
            "id",
            "kind",
            "title",
            "payload",
            "recipient",
            "status",
            "created_at",
            "read_at",
            "resolved_at",
        ]
        read_only_fields = fields


class NotificationListQuerySerializer(serializers.Serializer):
    status = FilterChoiceField(choices=Notification.Status.choices, required=False)
    kind = FilterChoiceField(
        choices=[(kind.value, kind.label) for kind in Notification.WORKSPACE_KINDS], required=False
    )
