"""Every read of a tenant's sites. Each enters the tenant's schema itself and checks that the actor
may look (a member of any role, or platform staff): to anyone else, nothing exists (NotFound).
They return lists and loaded objects, never querysets that could be evaluated in another schema."""

from django_tenants.utils import tenant_context

from kernel.errors import NotFound
from sites.drivers import secret_store
from sites.models import Site, SiteEnvVar, SiteEvent, SiteOperation, SiteStatus
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
    return MASK if var.sensitive else secret_store().reveal(var.reference)


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
