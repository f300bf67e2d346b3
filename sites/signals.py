"""Sites follow their tenant: it is suspended, resumed or deleted in `tenants`, which sends a
signal (tenants.signals) and knows nothing of sites. Deletion waits for the sites to be gone.

Sites in turn tell the apps above what happens to their operations (`operation_changed`), without
knowing who listens: chat follows the operations its conversations started."""

import logging
from typing import Any

from django.dispatch import Signal

from tenants import lifecycle
from tenants import signals as tenant_signals
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# kwargs: tenant, payload (sites.pipeline.operation_payload). Sent after the change committed, on
# the process that made it (a web request that queued it, the worker that ran a step).
operation_changed = Signal()


def send_operation_changed(*, tenant: Tenant, payload: dict[str, Any]) -> None:
    # A listener's failure must not fail the operation that is reporting its progress.
    for receiver, outcome in operation_changed.send_robust(sender=Tenant, tenant=tenant, payload=payload):
        if isinstance(outcome, Exception):
            logger.error("a listener of operation_changed failed", exc_info=outcome, extra={"receiver": str(receiver)})


def succeeded_operation_site(*, tenant: Tenant, payload: dict[str, Any]) -> tuple[str, int] | None:
    """For a listener of operation_changed: the kind and site id of an operation that succeeded."""
    from django_tenants.utils import tenant_context

    from sites.models import OperationState, SiteOperation

    operation_id = payload.get("operation")
    if payload.get("state") != OperationState.SUCCEEDED or not isinstance(operation_id, int):
        return None
    with tenant_context(tenant):
        site_id = SiteOperation.objects.filter(pk=operation_id).values_list("site_id", flat=True).first()
    return (str(payload.get("kind")), site_id) if site_id is not None else None


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
