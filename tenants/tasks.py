"""Tenant creation in the background, retried with backoff, and a reconciler for lost work."""

import logging

from celery import shared_task
from django.conf import settings

from tenants import selectors, services

logger = logging.getLogger(__name__)

MAX_PROVISION_RETRIES = 5


@shared_task(bind=True, max_retries=MAX_PROVISION_RETRIES, acks_late=True)
def tenant_provision(self, tenant_id: int) -> str:  # noqa: ANN001 - Celery binds the task instance
    try:
        tenant = services.tenant_provision(tenant_id=tenant_id)
    except Exception as exc:
        final = self.request.retries >= self.max_retries
        logger.exception("tenant provisioning failed", extra={"tenant_id": tenant_id, "final": final})
        services.tenant_provision_failed(tenant_id=tenant_id, error=f"{type(exc).__name__}: {exc}", final=final)
        if final:
            raise
        raise self.retry(exc=exc, countdown=min(2**self.request.retries, 60)) from exc
    return tenant.status


@shared_task
def tenants_reconcile() -> int:
    """Re-queue tenants whose provisioning task was lost (broker flushed, worker gone for good)."""
    stuck = selectors.tenants_stuck_provisioning(older_than_seconds=settings.TENANT_PROVISION_STALE_SECONDS)
    for tenant in stuck:
        logger.warning("re-queueing stuck tenant", extra={"tenant_slug": tenant.slug})
        tenant_provision.apply_async(args=[tenant.pk], headers={"_schema_name": "public"})
    return len(stuck)
