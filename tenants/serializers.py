"""Shapes of the API's requests and responses. Validation of meaning lives in the services."""

from rest_framework import serializers

from tenants.models import ApiKey, ApiKeyScope, Invitation, Membership, Role, Tenant, TenantStatus


class CurrentTenantSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    status = serializers.ChoiceField(choices=TenantStatus.choices)
    role = serializers.CharField(allow_null=True, help_text="Your role here (the API key's role for a key).")
    portal_url = serializers.URLField()
    max_sites = serializers.IntegerField()
    max_members = serializers.IntegerField()


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")
    name = serializers.CharField(source="user.name")

    class Meta:
        model = Membership
        fields = ["id", "email", "name", "role", "created_at"]


class InvitationSerializer(serializers.ModelSerializer):
    state = serializers.CharField()
    invited_by = serializers.EmailField(source="invited_by.email", allow_null=True, default=None)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "state", "invited_by", "created_at", "expires_at"]


class InviteRequestSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    role = serializers.CharField(default=Role.MEMBER, help_text="owner, admin, member or billing")


class RoleChangeSerializer(serializers.Serializer):
    role = serializers.CharField(help_text="owner, admin, member or billing")


class ApiKeySerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(source="created_by.email")
    revoked = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = [
            "id", "name", "prefix", "role", "scope", "created_by", "created_at", "last_used_at",
            "revoked", "revoked_at",
        ]  # fmt: skip

    def get_revoked(self, key: ApiKey) -> bool:
        return key.revoked_at is not None


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(help_text="The secret key. Shown only in this response: store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    role = serializers.CharField(default=Role.ADMIN, help_text="admin, member or billing")
    scope = serializers.ChoiceField(
        choices=ApiKeyScope.choices,
        default=ApiKeyScope.WRITE,
        help_text="read (safe methods only: GET, HEAD, OPTIONS) or write (everything the role allows)",
    )


class TenantSerializer(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True, default=None)

    class Meta:
        model = Tenant
        fields = [
            "id", "slug", "name", "status", "suspended_reason", "schema_name", "member_count",
            "max_sites", "max_members", "created_at", "activated_at", "portal_url",
        ]  # fmt: skip


class TenantCreateSerializer(serializers.Serializer):
    slug = serializers.CharField(max_length=64)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    owner_email = serializers.CharField(max_length=254)


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")
