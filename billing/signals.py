"""Budgets follow their sites: a deleted site's budget goes with it (sites tell the apps above what
happens to their operations, sites.signals.operation_changed, without knowing who listens)."""

from typing import Any

from sites import signals as site_signals
from sites.models import OperationKind
from tenants.models import Tenant


def _operation_changed(sender: type, *, tenant: Tenant, payload: dict[str, Any], **kwargs: Any) -> None:
    from billing import services

    found = site_signals.succeeded_operation_site(tenant=tenant, payload=payload)
    if found is not None and found[0] == OperationKind.DELETE:
        services.budgets_for_site_deleted(tenant=tenant, site_id=found[1])


def connect() -> None:
    site_signals.operation_changed.connect(_operation_changed, dispatch_uid="billing.operation_changed")
