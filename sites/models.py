"""A tenant's sites, the operations that change them, and their history. These tables live in each
tenant's schema."""

from django.conf import settings
from django.db import models
from django.db.models import Q

# One definition of what a site's name and title may be, for the services, the API and the portal.
SITE_NAME_MAX_LENGTH = 40
SITE_NAME_PATTERN = r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$"
SITE_TITLE_MAX_LENGTH = 200
MAX_PHP_WORKERS_LIMIT = 32
# What a tenant secret's name may be: a DNS label's alphabet, so the same name is valid in a tenant
# definition (YAML), a URL path and a cloud secret's id.
SECRET_NAME_MAX_LENGTH = 63
SECRET_NAME_PATTERN = r"^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$"  # noqa: S105 - a pattern of names, not a secret


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
    SiteStatus.UPDATING: frozenset({SiteStatus.READY, SiteStatus.FAILED, SiteStatus.DELETING}),
    SiteStatus.SUSPENDED: frozenset({SiteStatus.READY, SiteStatus.DELETING}),
    SiteStatus.FAILED: frozenset({SiteStatus.PROVISIONING, SiteStatus.DELETING}),
    SiteStatus.DELETING: frozenset({SiteStatus.DELETED}),
    SiteStatus.DELETED: frozenset(),
}


class Site(models.Model):
    slug = models.SlugField(max_length=SITE_NAME_MAX_LENGTH, help_text="The site's name; part of its hostname.")
    title = models.CharField(max_length=SITE_TITLE_MAX_LENGTH)
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
    # Suspended because its tenant was: resuming the tenant resumes exactly these sites.
    suspended_with_tenant = models.BooleanField(default=False)
    # Its tenant's own domains that proved theirs and point here (the dns app sets them): the site
    # answers on them beside its platform hostname.
    custom_hostnames = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["slug"]
        constraints = [
            # A deleted site keeps its row and its history; its name is free for a new site.
            models.UniqueConstraint(fields=["slug"], condition=~Q(status="deleted"), name="site_unique_live_slug")
        ]

    def __str__(self) -> str:
        return self.slug

    def can_become(self, status: str) -> bool:
        return status in TRANSITIONS[self.status]


class OperationKind(models.TextChoices):
    CREATE = "create", "Create"
    UPDATE = "update", "Update"
    ENV = "env", "Apply env vars"
    SUSPEND = "suspend", "Suspend"
    RESUME = "resume", "Resume"
    DELETE = "delete", "Delete"
    RETRY = "retry", "Retry"
    REPAIR = "repair", "Repair"
    DOMAINS = "domains", "Apply domains"


class OperationState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    WAITING = "waiting", "Waiting"  # for long work a step started (a handle is polled), or to retry
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


UNFINISHED_STATES = (OperationState.QUEUED, OperationState.RUNNING, OperationState.WAITING)


class SiteOperation(models.Model):
    """One change to a site (create, update, env, suspend, resume, delete, retry, repair), run by the
    pipeline on the worker, step by step. A site's operations run one at a time, in order."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="operations")
    kind = models.CharField(max_length=16, choices=OperationKind.choices)
    state = models.CharField(max_length=16, choices=OperationState.choices, default=OperationState.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    requested_by_label = models.CharField(max_length=200, help_text="Who asked: a person, a key, or a system actor.")
    # What this operation does, fixed when it is requested (e.g. the new title of an update).
    params = models.JSONField(default=dict, blank=True)
    # Where it is: the index of the next step of its plan to run, and that step's name.
    step_index = models.PositiveSmallIntegerField(default=0)
    current_step = models.CharField(max_length=32, blank=True)
    steps_total = models.PositiveSmallIntegerField(default=0)
    # A long-running step's handle, polled again at poll_at (also: when to retry after a failure).
    handle = models.TextField(blank=True)
    poll_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0, help_text="Failed attempts of the current step.")
    # Which worker runs it, and when it last showed life: a stale one is taken over by the reconciler.
    claimed_by = models.CharField(max_length=64, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["site", "state"], name="site_operation_site_state")]

    def __str__(self) -> str:
        return f"{self.site} {self.kind} {self.state}"

    @property
    def is_finished(self) -> bool:
        return self.state not in UNFINISHED_STATES


class SiteEvent(models.Model):
    """One step of a site's life: what ran, how it ended, how long it took."""

    class Outcome(models.TextChoices):
        STARTED = "started", "Started"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        REPAIRED = "repaired", "Repaired"
        WAITING = "waiting", "Waiting"

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="events")
    operation = models.ForeignKey(
        SiteOperation, null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
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
    Only a reference is kept here; the secret store (sites.drivers.secret_store) holds the value."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="secrets")
    name = models.CharField(max_length=64)
    reference = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="site_secret_unique_name")]

    def __str__(self) -> str:
        return f"{self.site} {self.name}"


class SiteEnvVar(models.Model):
    """A key/value the site's PHP sees in its environment (third-party integrations). Every value is
    kept by the secret store; a sensitive one is never shown again after it is set.

    A var linked to a tenant secret (`from_secret`) has no value of its own (an empty `reference`):
    the site gets the secret's value whenever its environment is applied, so replacing the secret
    reaches every site that uses it."""

    site = models.ForeignKey(Site, on_delete=models.CASCADE, related_name="env_vars")
    name = models.CharField(max_length=128)
    reference = models.TextField(blank=True)
    sensitive = models.BooleanField(default=False)
    # The name of a TenantSecret, not a foreign key: a tenant definition refers to secrets by name,
    # and a secret that is still referred to cannot be deleted (sites.services.tenant_secret_delete).
    from_secret = models.CharField(max_length=64, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["site", "name"], name="site_env_unique_name"),
            # A value of its own or a secret's, never both: a linked var must not keep a stale value
            # that the delete path would forget, nor a literal one that a listing would show.
            models.CheckConstraint(condition=Q(from_secret="") | Q(reference=""), name="site_env_value_or_secret"),
        ]

    def __str__(self) -> str:
        return f"{self.site} {self.name}"

    @property
    def linked(self) -> bool:
        return bool(self.from_secret)


class TenantSecret(models.Model):
    """A named value of the tenant's (an API key of a payment provider, say) that site env vars refer
    to by name, so that a tenant definition in git can name it without holding it. Write-only: set
    by an owner or admin, never shown again. Only a reference is kept here; the secret store
    (sites.drivers.secret_store) holds the value."""

    name = models.CharField(max_length=SECRET_NAME_MAX_LENGTH, unique=True)
    reference = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by_label = models.CharField(max_length=200, blank=True, help_text="Who set the value last.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
