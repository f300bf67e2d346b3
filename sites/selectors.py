"""Every read of a tenant's sites. Each enters the tenant's schema itself and checks that the actor
may look (a member of any role, or platform staff): to anyone else, nothing exists (NotFound).
They return lists and loaded objects, never querysets that could be evaluated in another schema."""

from collections import defaultdict
from typing import Any

from django.conf import settings
from django_tenants.utils import tenant_context

from kernel.errors import NotFound
from sites import page_cache
from sites.drivers import secret_store
from sites.models import Site, SiteEnvVar, SiteEvent, SiteOperation, SiteStatus, TenantSecret
from tenants.audit import Actor
from tenants.models import Tenant
from tenants.roles import role_of

MASK = "••••••••"


def _require_reader(actor: Actor, tenant: Tenant) -> None:
    if role_of(actor, tenant) is None and not actor.is_staff:
        raise NotFound("No such organisation here.")


def _site(name: str) -> Site:
    site = Site.objects.exclude(status=SiteStatus.DELETED).filter(slug=name).first()
    if site is None:
        raise NotFound(f"No site “{name}” here.")
    return site


def site_list(*, tenant: Tenant, actor: Actor) -> list[Site]:
    _require_reader(actor, tenant)
    with tenant_context(tenant):
        return list(Site.objects.exclude(status=SiteStatus.DELETED).order_by("slug"))


# What the API's sites list shows of each site (sites.serializers.site_body).
SITE_BODY_FIELDS = (
    "slug", "title", "status", "wordpress_version", "runtime", "max_php_workers", "last_error",
    "created_by_email", "created_at", "updated_at",
)  # fmt: skip


def site_list_rows(*, tenant: Tenant, actor: Actor) -> list[dict[str, Any]]:
    """The sites as `SITE_BODY_FIELDS` values, not model instances: the API's list reads nothing
    else, and building 20 Site objects was a third of its time (issue 14)."""
    _require_reader(actor, tenant)
    with tenant_context(tenant):
        return list(Site.objects.exclude(status=SiteStatus.DELETED).order_by("slug").values(*SITE_BODY_FIELDS))


def site_get(*, tenant: Tenant, actor: Actor, name: str) -> Site:
    _require_reader(actor, tenant)
    with tenant_context(tenant):
        return _site(name)


def site_events(*, tenant: Tenant, actor: Actor, name: str, limit: int = 200) -> list[SiteEvent]:
    _require_reader(actor, tenant)
    with tenant_context(tenant):
        return list(SiteEvent.objects.filter(site=_site(name)).order_by("-created_at", "-id")[:limit])


def site_operations(*, tenant: Tenant, actor: Actor, name: str, limit: int = 50) -> list[SiteOperation]:
    _require_reader(actor, tenant)
    with tenant_context(tenant):
        return list(SiteOperation.objects.filter(site=_site(name)).select_related("site").order_by("-id")[:limit])


def site_operation(*, tenant: Tenant, actor: Actor, name: str, operation_id: int) -> SiteOperation:
    _require_reader(actor, tenant)
    with tenant_context(tenant):
        # Deleted sites included: a delete operation stays readable after it has removed its site.
        operation = SiteOperation.objects.filter(site__slug=name, pk=operation_id).select_related("site").first()
    if operation is None:
        raise NotFound(f"No operation {operation_id} of “{name}” here.")
    return operation


def shown_value(var: SiteEnvVar) -> str:
    # A linked var's value is a tenant secret's: never revealed, whatever its own flag says.
    return MASK if var.sensitive or var.from_secret else secret_store().reveal(var.reference)


def site_env_vars(*, tenant: Tenant, actor: Actor, name: str) -> list[tuple[SiteEnvVar, str]]:
    """The site's env vars with the value to show (sensitive ones masked)."""
    _require_reader(actor, tenant)
    with tenant_context(tenant):
        return [(var, shown_value(var)) for var in SiteEnvVar.objects.filter(site=_site(name)).order_by("name")]


def site_env_var(*, tenant: Tenant, actor: Actor, name: str, key: str) -> tuple[SiteEnvVar, str]:
    _require_reader(actor, tenant)
    with tenant_context(tenant):
        var = SiteEnvVar.objects.filter(site=_site(name), name=key).first()
        if var is None:
            raise NotFound(f"“{name}” has no env var {key}.")
        return var, shown_value(var)


# --- Tenant secrets: names, dates and users; never a value --------------------------------------


def _secret_row(secret: TenantSecret, used_by: list[str]) -> dict[str, Any]:
    return {
        "name": secret.name,
        "created_at": secret.created_at,
        "updated_at": secret.updated_at,
        "updated_by_label": secret.updated_by_label,
        "used_by": used_by,
    }


def _secret_users(names: list[str] | None = None) -> dict[str, list[str]]:
    """Secret name -> the "site/KEY" env vars that take their value from it."""
    links = SiteEnvVar.objects.exclude(from_secret="").exclude(site__status=SiteStatus.DELETED)
    if names is not None:
        links = links.filter(from_secret__in=names)
    used: dict[str, list[str]] = defaultdict(list)
    for secret, slug, key in links.order_by("site__slug", "name").values_list("from_secret", "site__slug", "name"):
        used[secret].append(f"{slug}/{key}")
    return used


def tenant_secrets(*, tenant: Tenant, actor: Actor) -> list[dict[str, Any]]:
    """The tenant's secrets (name, created_at, updated_at, updated_by_label, used_by), by name.
    Any member may see which exist and who uses them; nobody sees a value."""
    _require_reader(actor, tenant)
    with tenant_context(tenant):
        used = _secret_users()
        return [_secret_row(secret, used.get(secret.name, [])) for secret in TenantSecret.objects.order_by("name")]


def tenant_secret(*, tenant: Tenant, actor: Actor, name: str) -> dict[str, Any]:
    """One of tenant_secrets(), or NotFound."""
    _require_reader(actor, tenant)
    with tenant_context(tenant):
        secret = TenantSecret.objects.filter(name=name).first()
        if secret is None:
            raise NotFound(f"No secret “{name}” here.")
        return _secret_row(secret, _secret_users([name]).get(name, []))


def tenant_secret_exists(*, tenant: Tenant, name: str) -> bool:
    """Whether the tenant has secret `name`. No role check: for planning a tenant definition, whose
    caller has checked who acts; it tells nothing but the existence of a name."""
    with tenant_context(tenant):
        return TenantSecret.objects.filter(name=name).exists()


def site_page_cache(*, tenant: Tenant, actor: Actor, name: str) -> dict[str, Any]:
    """What the site's page says of its page cache: whether pages are kept and how long, what the
    home page's second request said at the last health check (HIT, MISS or BYPASS), and the last
    time the cache was emptied (by whom, and why)."""
    _require_reader(actor, tenant)
    with tenant_context(tenant):
        site = _site(name)
        checked = (
            SiteEvent.objects.filter(site=site, step="health", outcome=SiteEvent.Outcome.SUCCEEDED)
            .order_by("-id")
            .first()
        )
        emptied = SiteEvent.objects.filter(site=site, step=page_cache.EVENT_STEP).order_by("-id").first()
    return {
        "enabled": bool(settings.SITES_PAGE_CACHE),
        "minutes": max(1, round(settings.SITES_PAGE_CACHE_SECONDS / 60)),
        "check": page_cache.last_check(checked.detail) if checked else None,
        "checked_at": checked.created_at if checked else None,
        "emptied": emptied,
    }
