"""Tenant creation in the background, retried with backoff, and a reconciler for lost work."""

import logging
from datetime import datetime
from typing import Any

from celery import Task, shared_task
from celery.result import AsyncResult
from django.conf import settings

from tenants import selectors, services
from tenants.models import Tenant

logger = logging.getLogger(__name__)

MAX_PROVISION_RETRIES = 5


def send_in_tenant(
    task: Task, tenant: Tenant, *args: Any, countdown: float | None = None, **kwargs: Any
) -> AsyncResult:
    """Queue `task` to run in `tenant`'s schema, whatever schema this connection is in now, at once or
    after `countdown` seconds.

    tenant-schemas-celery would otherwise read the current connection's schema at send time.
    """
    options: dict[str, Any] = {"headers": {"_schema_name": tenant.schema_name}}
    if countdown is not None:
        options["countdown"] = countdown
    return task.apply_async(args=args, kwargs=kwargs, **options)


@shared_task(bind=True, max_retries=MAX_PROVISION_RETRIES, acks_late=True)
def tenant_provision(self: Task, tenant_id: int) -> str:
    try:
        tenant = services.tenant_provision(tenant_id=tenant_id)
    except Exception as exc:  # any failure is retried; the last one marks the tenant failed
        final = self.request.retries >= (self.max_retries or 0)
        logger.exception("tenant provisioning failed", extra={"tenant_id": tenant_id, "final": final})
        services.tenant_provision_failed(tenant_id=tenant_id, error=f"{type(exc).__name__}: {exc}", final=final)
        if final:
            raise
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 60)) from exc
    return tenant.status if tenant is not None else "gone"


@shared_task(bind=True, max_retries=None, acks_late=True)
def tenant_delete_finish(self: Task, tenant_id: int) -> str:
    """Finish deleting a tenant once its apps removed everything; until then, look again later."""
    remaining = services.tenant_delete_finish(tenant_id=tenant_id)
    if remaining:
        raise self.retry(countdown=10)
    return "deleted"


@shared_task
def tenants_reconcile() -> int:
    """Re-queue tenants whose provisioning task was lost (broker flushed, worker gone for good), and
    look again at tenants being deleted (a lost check would leave them half-deleted)."""
    stuck = selectors.tenants_stuck_provisioning(older_than_seconds=settings.TENANT_PROVISION_STALE_SECONDS)
    for tenant in stuck:
        logger.warning("re-queueing stuck tenant", extra={"tenant_slug": tenant.slug})
        tenant_provision.apply_async(args=(tenant.pk,), headers={"_schema_name": "public"})
    for tenant_id in selectors.tenants_being_deleted():
        services.tenant_delete_finish(tenant_id=tenant_id)  # asks the apps again when things remain
    return len(stuck)


@shared_task(ignore_result=True)
def api_key_used(key_id: int, used_at: str) -> None:
    """Written off the request path (services.api_key_touch), at most once a minute per key."""
    services.api_key_record_use(key_id=key_id, used_at=datetime.fromisoformat(used_at))
