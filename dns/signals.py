"""Domains follow their sites: sites tell the apps above what happens to their operations
(sites.signals.operation_changed) without knowing who listens."""

from typing import Any

from sites import signals as site_signals
from sites.models import OperationKind
from tenants import lifecycle
from tenants.models import Tenant

# A finished operation of these kinds may have put a verified domain in the site's server block.
_ROUTING = {OperationKind.DOMAINS, OperationKind.CREATE, OperationKind.RETRY, OperationKind.REPAIR}


def _operation_changed(sender: type, *, tenant: Tenant, payload: dict[str, Any], **kwargs: Any) -> None:
    from dns import services

    found = site_signals.succeeded_operation_site(tenant=tenant, payload=payload)
    if found is None:
        return
    kind, site_id = found
    if kind == OperationKind.DELETE:
        services.domains_drop_site(tenant=tenant, site_id=site_id)
    elif kind in _ROUTING:
        services.domains_site_changed(tenant=tenant, site_id=site_id)


def _domains_left(tenant: Tenant) -> int:
    from dns.models import CustomDomain

    return CustomDomain.objects.filter(tenant=tenant).count()


def connect() -> None:
    site_signals.operation_changed.connect(_operation_changed, dispatch_uid="dns.operation_changed")
    # A tenant is deleted once its domains are gone too (each site's deletion withdraws its own).
    lifecycle.register_resource_counter("domains", _domains_left)
