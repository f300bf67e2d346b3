from rest_framework import serializers

from sites.models import Site, SiteEvent, SiteStatus
from sites.services import site_hostname
from sites.services_urls import site_url_for


class ScalingSerializer(serializers.Serializer):
    max_php_workers = serializers.IntegerField()


class SiteSerializer(serializers.ModelSerializer):
    name = serializers.CharField(source="slug")
    url = serializers.SerializerMethodField()
    admin_url = serializers.SerializerMethodField()
    scaling = serializers.SerializerMethodField()
    status = serializers.ChoiceField(choices=SiteStatus.choices)

    class Meta:
        model = Site
        fields = [
            "name", "title", "status", "url", "admin_url", "wordpress_version", "runtime", "scaling",
            "last_error", "created_by_email", "created_at", "updated_at",
        ]  # fmt: skip

    def _url(self, site: Site) -> str:
        return site_url_for(site_hostname(self.context["tenant"], site.slug))

    def get_url(self, site: Site) -> str:
        return self._url(site)

    def get_admin_url(self, site: Site) -> str:
        return self._url(site) + "wp-admin/"

    def get_scaling(self, site: Site) -> dict:
        return {"max_php_workers": site.max_php_workers}


class SiteCreatedSerializer(SiteSerializer):
    admin_password = serializers.CharField(help_text="The WordPress admin password. Shown only in this response.")

    class Meta(SiteSerializer.Meta):
        fields = [*SiteSerializer.Meta.fields, "admin_password"]


class SiteCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=64)
    title = serializers.CharField(max_length=250, required=False, allow_blank=True, default="")


class SiteEventSerializer(serializers.ModelSerializer):
    class Meta:
        model = SiteEvent
        fields = ["step", "outcome", "detail", "duration_ms", "created_at"]


class EnvVarSerializer(serializers.Serializer):
    name = serializers.CharField()
    value = serializers.CharField(help_text="Masked when the variable is sensitive.")
    sensitive = serializers.BooleanField()
    updated_at = serializers.DateTimeField()


class EnvVarWriteSerializer(serializers.Serializer):
    value = serializers.CharField(allow_blank=True, max_length=8192, trim_whitespace=False)
    sensitive = serializers.BooleanField(default=False)


class SiteUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=250, required=False)
    scaling = ScalingSerializer(required=False)
