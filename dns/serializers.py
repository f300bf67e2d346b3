"""Shapes of the domains API. What a domain may be is the services' to say (dns.rules)."""

from typing import Any

from rest_framework import serializers

from dns.models import Check, CustomDomain, DomainStatus
from dns.providers.base import Certificate
from dns.selectors import records_for


class DomainCreateSerializer(serializers.Serializer):
    domain = serializers.CharField(
        max_length=300, allow_blank=True, trim_whitespace=False, help_text="The domain, like www.example.com."
    )


class CheckSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Check.choices)
    detail = serializers.CharField()


class CertificateSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=Certificate.choices)
    detail = serializers.CharField()


class RecordAdviceSerializer(serializers.Serializer):
    type = serializers.CharField()
    name = serializers.CharField()
    value = serializers.CharField()
    purpose = serializers.CharField()


class DomainSerializer(serializers.Serializer):
    domain = serializers.CharField()
    site = serializers.CharField()
    status = serializers.ChoiceField(choices=DomainStatus.choices)
    reason = serializers.CharField(help_text="What stands between the domain and active, and what to do.")
    ownership = CheckSerializer()
    dns = CheckSerializer()
    certificate = CertificateSerializer()
    records = RecordAdviceSerializer(many=True, help_text="Create these at the domain's DNS host.")
    last_checked_at = serializers.DateTimeField(allow_null=True)
    next_check_at = serializers.DateTimeField(allow_null=True)
    verified_at = serializers.DateTimeField(allow_null=True)
    activated_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


def domain_body(domain: CustomDomain, *, runtime: str) -> dict[str, Any]:
    return {
        "domain": domain.hostname,
        "site": domain.site_slug,
        "status": domain.status,
        "reason": domain.reason,
        "ownership": {"status": domain.ownership, "detail": domain.ownership_detail},
        "dns": {"status": domain.dns, "detail": domain.dns_detail},
        "certificate": {"status": domain.certificate, "detail": domain.certificate_detail},
        "records": [vars(advice) for advice in records_for(domain, runtime=runtime)],
        "last_checked_at": domain.last_checked_at,
        "next_check_at": domain.next_check_at,
        "verified_at": domain.verified_at,
        "activated_at": domain.activated_at,
        "created_at": domain.created_at,
    }
