"""Sites follow their tenant: it is suspended, resumed or deleted in `tenants`, which sends a
signal (tenants.signals) and knows nothing of sites. Deletion waits for the sites to be gone."""

from typing import Any

from tenants import lifecycle
from tenants import signals as tenant_signals
from tenants.models import Tenant


def _suspended(sender: type, *, tenant: Tenant, **kwargs: Any) -> None:
    from sites.tasks import follow_tenant

    follow_tenant(tenant, suspended=True)


def _resumed(sender: type, *, tenant: Tenant, **kwargs: Any) -> None:
    from sites.tasks import follow_tenant

    follow_tenant(tenant, suspended=False)


def _deletion_requested(sender: type, *, tenant: Tenant, **kwargs: Any) -> None:
    from sites.tasks import delete_all

    delete_all(tenant)


def _sites_left(tenant: Tenant) -> int:
    from sites.inventory.models import SiteRecord

    return SiteRecord.objects.filter(tenant=tenant).count()


def connect() -> None:
    tenant_signals.tenant_suspended.connect(_suspended, dispatch_uid="sites.tenant_suspended")
    tenant_signals.tenant_resumed.connect(_resumed, dispatch_uid="sites.tenant_resumed")
    tenant_signals.tenant_deletion_requested.connect(_deletion_requested, dispatch_uid="sites.tenant_deletion")
    lifecycle.register_resource_counter("sites", _sites_left)
