"""Applications of tenant definitions: what was asked, what it changed, what it started.

In the public schema: a definition may create its tenant, whose schema does not exist yet when the
application is recorded, and staff follow applications across tenants."""

from django.conf import settings
from django.db import models

from tenants.models import Tenant


class ApplicationState(models.TextChoices):
    # The tenant is being created; the rest of the definition is applied once it is active.
    WAITING = "waiting", "Waiting for the tenant"
    APPLIED = "applied", "Applied"
    FAILED = "failed", "Failed"


class Application(models.Model):
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="applications")
    tenant_slug = models.CharField(max_length=40, db_index=True)
    # The definition as applied (a definition holds no secret values: only references to them).
    document = models.JSONField()
    changes = models.JSONField(default=list, blank=True)
    # The site operations it started: [{"site", "kind", "operation"}].
    operations = models.JSONField(default=list, blank=True)
    state = models.CharField(max_length=16, choices=ApplicationState.choices, default=ApplicationState.WAITING)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    requested_by_label = models.CharField(max_length=200)
    # Applied by staff or the platform's CLI (a fleet's pipeline): only such tenants are ever pruned.
    by_staff = models.BooleanField(default=False)
    # When the worker last tried to finish it: the reconciler asks again only when that is old.
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.tenant_slug} #{self.pk} {self.state}"
