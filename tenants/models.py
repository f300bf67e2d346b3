"""Tenants, their hosts, people and credentials. All of it lives in the public schema."""

import secrets
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django_tenants.models import DomainMixin, TenantMixin


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: Any) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> "User":
        extra.update(is_staff=True, is_superuser=True)
        return self._create(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. Global: one user may belong to several tenants through memberships."""

    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False, help_text="Platform staff: may use the staff console.")
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = []

    def __str__(self) -> str:
        return self.email


def generate_schema_name() -> str:
    # Random rather than derived from the slug: the slug is for people and may be reused after a
    # failed creation, while a schema name must never collide with a half-dropped predecessor.
    return f"t_{secrets.token_hex(8)}"


class TenantStatus(models.TextChoices):
    PROVISIONING = "provisioning", "Provisioning"
    ACTIVE = "active", "Active"
    SUSPENDED = "suspended", "Suspended"
    FAILED = "failed", "Failed"
    DELETING = "deleting", "Deleting"


class Tenant(TenantMixin):
    """An organisation. Its data lives in its own PostgreSQL schema, cloned from a template."""

    # Annotated by hand: TenantMixin (django-tenants) ships no types, so the Django plugin of mypy
    # cannot tell these are model fields.
    schema_name: "models.CharField[str, str]" = models.CharField(
        max_length=63, unique=True, default=generate_schema_name, editable=False
    )
    slug: "models.SlugField[str, str]" = models.SlugField(max_length=40, unique=True)
    name: "models.CharField[str, str]" = models.CharField(max_length=120)
    status: "models.CharField[str, str]" = models.CharField(
        max_length=16, choices=TenantStatus.choices, default=TenantStatus.PROVISIONING
    )
    suspended_reason: "models.CharField[str, str]" = models.CharField(max_length=500, blank=True)
    max_sites: "models.PositiveIntegerField[int, int]" = models.PositiveIntegerField(
        default=5, help_text="Plan limit: sites this tenant may run."
    )
    max_members: "models.PositiveIntegerField[int, int]" = models.PositiveIntegerField(
        default=25, help_text="Plan limit: members and pending invitations."
    )
    max_api_keys: "models.PositiveIntegerField[int, int]" = models.PositiveIntegerField(
        default=20, help_text="Plan limit: API keys not revoked."
    )
    ai_monthly_tokens: "models.PositiveIntegerField[int, int]" = models.PositiveIntegerField(
        default=2_000_000, help_text="Plan limit: assistant tokens (in and out) per calendar month (UTC)."
    )
    provision_attempts: "models.PositiveIntegerField[int, int]" = models.PositiveIntegerField(default=0)
    last_error: "models.TextField[str, str]" = models.TextField(blank=True)
    created_at: "models.DateTimeField[datetime, datetime]" = models.DateTimeField(auto_now_add=True)
    activated_at: "models.DateTimeField[datetime | None, datetime | None]" = models.DateTimeField(null=True, blank=True)

    # The schema is made by a Celery task (tenants.tasks.tenant_provision), never inside a request,
    # and dropped only by tenants.services.tenant_delete_finish, after every site is gone: deleting
    # the row by any other path (the admin, a shell) must not orphan the sites' resources.
    auto_create_schema = False
    auto_drop_schema = False

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            stored = type(self).objects.filter(pk=self.pk).values_list("schema_name", flat=True).first()
            if stored is not None and stored != self.schema_name:
                raise ValueError("A tenant's schema name is immutable.")
        super().save(*args, **kwargs)

    @property
    def host(self) -> str:
        return f"{self.slug}.{settings.PLATFORM_DOMAIN}"

    @property
    def portal_url(self) -> str:
        port = f":{settings.PLATFORM_PORT}" if settings.PLATFORM_PORT else ""
        return f"{settings.PLATFORM_SCHEME}://{self.host}{port}/"

    @property
    def is_usable(self) -> bool:
        return self.status == TenantStatus.ACTIVE


class Domain(DomainMixin):
    """A host name that resolves to a tenant (its platform subdomain; custom domains come later)."""


class Role(models.TextChoices):
    OWNER = "owner", "Owner"
    ADMIN = "admin", "Admin"
    MEMBER = "member", "Member"
    BILLING = "billing", "Billing"


class WriterRoles(frozenset[str]):
    """Roles that may change something. `tenants.roles.require_role` refuses a read-scoped API key
    for a set of this type whatever the key's role, so every write service guarded by one is closed
    to read keys. Set operations return a plain frozenset: wrap the result in WriterRoles again."""


# Roles that may manage people and credentials of the tenant.
MANAGER_ROLES = WriterRoles({Role.OWNER, Role.ADMIN})


class Membership(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="membership_unique_user_tenant")]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.user} in {self.tenant} as {self.role}"


class Invitation(models.Model):
    """An emailed invitation. Only a hash of its token is stored; the link carries the token."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.MEMBER)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    accepted_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "email"],
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="invitation_one_pending_per_email",
            )
        ]

    def __str__(self) -> str:
        return f"{self.email} to {self.tenant}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None and self.expires_at > timezone.now()

    @property
    def state(self) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class ApiKeyScope(models.TextChoices):
    """What a key may do: a read key may only look (safe methods); a write key may also change."""

    READ = "read", "Read only"
    WRITE = "write", "Read and write"


class ApiKey(models.Model):
    """A credential for integrators. Shown once; only its SHA-256 is kept. No tenant means a staff key."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True, help_text="Visible part, to recognise a key.")
    key_hash = models.CharField(max_length=64, unique=True)
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.ADMIN)
    # Default write: keys made before scopes existed keep doing what they did.
    scope = models.CharField(max_length=8, choices=ApiKeyScope.choices, default=ApiKeyScope.WRITE)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="api_keys")
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_staff_key(self) -> bool:
        return self.tenant_id is None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    @property
    def is_read_only(self) -> bool:
        return self.scope == ApiKeyScope.READ


class AuditEvent(models.Model):
    """Who did what to which tenant, when and from where. Append-only."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events")
    tenant_slug = models.CharField(max_length=40, blank=True, help_text="Kept when the tenant is gone.")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200, blank=True, help_text="e.g. the user's email or 'api key aip_x'.")
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=200, blank=True)
    details = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.target}"
