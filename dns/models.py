"""DNS records the local provider serves, and the tenants' own domains. Both live in the public
schema: a hostname is unique across the whole platform, whichever tenant holds it."""

from django.db import models
from django.utils import timezone

from dns.providers.base import RECORD_TYPES, Certificate


class ZoneRecord(models.Model):
    """A record of a zone the local provider's server answers for: the platform's zone (written by
    the pipeline's hostname step), and zones an operator adds by hand (`manage.py dns set-record`)
    to stand in for a registrar when there is no internet."""

    zone = models.CharField(max_length=253)
    name = models.CharField(max_length=253)
    type = models.CharField(max_length=8, choices=[(kind, kind) for kind in RECORD_TYPES])
    content = models.CharField(max_length=1024)
    ttl = models.PositiveIntegerField(default=300)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["zone", "name", "type", "content"]
        indexes = [models.Index(fields=["name"], name="dns_zone_record_name"), models.Index(fields=["zone"])]

    def __str__(self) -> str:
        return f"{self.name} {self.type} {self.content}"


class DomainStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # waiting for its records
    VERIFIED = "verified", "Verified"  # proven and pointing here; being routed (or its certificate issued)
    ACTIVE = "active", "Active"  # the site answers on it
    FAILED = "failed", "Failed"  # not verified in time; "check now" starts again


class Check(models.TextChoices):
    PENDING = "pending", "Not yet"
    OK = "ok", "OK"
    FAILED = "failed", "Failed"


class CustomDomain(models.Model):
    """A tenant's own domain for one of its sites (www.their-shop.com). Ownership (a TXT record with
    this domain's token), DNS (pointing at the site) and the certificate are checked apart."""

    hostname = models.CharField(max_length=253, unique=True)
    tenant = models.ForeignKey("tenants.Tenant", on_delete=models.CASCADE, related_name="custom_domains")
    # The site lives in the tenant's schema: its id, and its name for display and lookups.
    site_id = models.BigIntegerField()
    site_slug = models.CharField(max_length=40)
    token = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=DomainStatus.choices, default=DomainStatus.PENDING)
    ownership = models.CharField(max_length=16, choices=Check.choices, default=Check.PENDING)
    dns = models.CharField(max_length=16, choices=Check.choices, default=Check.PENDING)
    certificate = models.CharField(max_length=16, choices=Certificate.choices, default=Certificate.PENDING)
    # What stands between the domain and "active" now, in words that say what to do.
    reason = models.TextField(blank=True)
    ownership_detail = models.TextField(blank=True)
    dns_detail = models.TextField(blank=True)
    certificate_detail = models.TextField(blank=True)
    provider_reference = models.CharField(max_length=255, blank=True)
    # Records the DNS provider asks the owner to create as well (a certificate's validation).
    provider_records = models.JSONField(default=list, blank=True)
    checks = models.PositiveIntegerField(default=0, help_text="Checks since it was added, verified or asked for.")
    # Since when it has waited to be verified: "check now" on a failed domain starts it again. Not
    # created_at, which never moves: another tenant's claim lapses by that one.
    pending_since = models.DateTimeField(default=timezone.now)
    next_check_at = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    activated_at = models.DateTimeField(null=True, blank=True)
    created_by_label = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["hostname"]
        indexes = [
            models.Index(fields=["next_check_at"], name="dns_domain_next_check"),
            models.Index(fields=["tenant", "site_id"], name="dns_domain_site"),
        ]

    def __str__(self) -> str:
        return self.hostname

    @property
    def challenge_name(self) -> str:
        return f"{CHALLENGE_LABEL}.{self.hostname}"


CHALLENGE_LABEL = "_aipress-challenge"
