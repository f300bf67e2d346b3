"""A tenant's sites and their history. These tables live in each tenant's schema."""

from django.conf import settings
from django.db import models


class SiteStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    PROVISIONING = "provisioning", "Provisioning"
    READY = "ready", "Ready"
    UPDATING = "updating", "Updating"
    SUSPENDED = "suspended", "Suspended"
    FAILED = "failed", "Failed"
    DELETING = "deleting", "Deleting"
    DELETED = "deleted", "Deleted"


# The only legal moves of a site's life (DESIGN.md, "A site's life").
TRANSITIONS: dict[str, frozenset[str]] = {
    SiteStatus.REQUESTED: frozenset({SiteStatus.PROVISIONING, SiteStatus.FAILED, SiteStatus.DELETING}),
    SiteStatus.PROVISIONING: frozenset({SiteStatus.READY, SiteStatus.FAILED, SiteStatus.DELETING}),
    SiteStatus.READY: frozenset({SiteStatus.UPDATING, SiteStatus.SUSPENDED, SiteStatus.DELETING}),
    SiteStatus.UPDATING: frozenset({SiteStatus.READY, SiteStatus.FAILED}),
    SiteStatus.SUSPENDED: frozenset({SiteStatus.READY, SiteStatus.DELETING}),
    SiteStatus.FAILED: frozenset({SiteStatus.PROVISIONING, SiteStatus.DELETING}),
    SiteStatus.DELETING: frozenset({SiteStatus.DELETED}),
    SiteStatus.DELETED: frozenset(),
}


class Site(models.Model):
    slug = models.SlugField(max_length=40, unique=True, help_text="The site's name; part of its hostname.")
    title = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=SiteStatus.choices, default=SiteStatus.REQUESTED)
    runtime = models.CharField(max_length=32)
    wordpress_version = models.CharField(max_length=32, blank=True)
    max_php_workers = models.PositiveSmallIntegerField(default=4)
    # No database constraint into the public schema: a user is deleted from public, where Django cannot
    # see every tenant's rows, and a constraint in each tenant schema would refuse the deletion.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    created_by_email = models.EmailField(blank=True, help_text="Kept for display if the user is gone.")
    last_error = models.TextField(blank=True)
    # Where provisioning is: the index of the next step to run, and when the current one was queued.
    # The reconciler resumes from here when a worker died mid-way.
    provision_step = models.PositiveSmallIntegerField(default=0)
    # Suspended because its tenant was: resuming the tenant resumes exactly these sites.
    suspended_with_tenant = models.BooleanField(default=False)
    step_queued_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def can_become(self, status: str) -> bool:
        return status in TRANSITIONS[self.status]


class SiteEvent(models.Model):
    """One step of a site's life: what ran, how it ended, how long it took."""

    class Outcome(models.TextChoices):
        STARTED = "started", "Started"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REPAIRED = "repaired", "Repaired"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="events")
    step = models.CharField(max_length=32)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    detail = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.site} {self.step} {self.outcome}"


class SiteSecret(models.Model):
    """A value the site needs but nobody reads back: the database password, the WordPress salts.
    Stored encrypted (sites.secrets); only the runtime decrypts it, to hand it to the site."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=64)
    ciphertext = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="site_secret_unique_name")]

    def __str__(self) -> str:
        return f"{self.site} {self.name}"


class SiteEnvVar(models.Model):
    """A key/value the site's PHP sees in its environment (third-party integrations). Every value is
    encrypted at rest; a sensitive one is never shown again after it is set."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="env_vars")
    name = models.CharField(max_length=128)
    ciphertext = models.TextField()
    sensitive = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="site_env_unique_name")]

    def __str__(self) -> str:
        return f"{self.site} {self.name}"
