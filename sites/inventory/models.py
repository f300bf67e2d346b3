from django.db import models

from tenants.models import Tenant


class SiteRecord(models.Model):
    """One row per site across all tenants: enough for staff lists and fleet jobs to find a site
    without entering every tenant schema. Written only by sites.services, next to the full record."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="site_records")
    site_id = models.BigIntegerField(help_text="The site's id in its tenant's schema.")
    slug = models.SlugField(max_length=40)
    status = models.CharField(max_length=16)
    runtime = models.CharField(max_length=32)
    hostname = models.CharField(max_length=255, unique=True)
    # When the site's operations should have moved on by: the reconciler takes over a site whose
    # time has passed (a killed worker, a lost message, a poll that is due). Empty when it is idle.
    attention_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # When the runtime was last asked whether every piece of the site is still there.
    checked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["tenant__slug", "slug"]
        constraints = [models.UniqueConstraint(fields=["tenant", "slug"], name="site_record_unique_slug")]

    def __str__(self) -> str:
        return self.hostname
