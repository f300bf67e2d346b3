"""The site pipeline on Celery, and the reconciler that keeps every site moving.

One task advances one site's operations (sites.pipeline.advance). The reconciler never loops over
the fleet doing the work itself: from the public inventory it finds the sites that need attention
and queues one task for each. Sites whose operations should have moved on by now (a killed worker,
a lost message, a poll that is due) every minute; a check of the runtime for every running site
only every SITES_DRIFT_CHECK_SECONDS, oldest checked first, a batch at a time, so that a cloud
runtime is not asked about every site every minute.
"""

import logging
from datetime import timedelta

from celery import Task, shared_task
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from sites import pipeline, services
from sites.inventory.models import SiteRecord
from sites.models import Site, SiteStatus
from sites.spec import StepError
from tenants.models import Tenant
from tenants.schema import current_tenant
from tenants.tasks import send_in_tenant

logger = logging.getLogger(__name__)

RECONCILE_BATCH = 200


@shared_task(acks_late=True)
def site_operations_advance(site_id: int) -> str:
    """Run one site's pending operations (the task's tenant schema is the site's)."""
    return pipeline.advance(tenant=current_tenant(), site_id=site_id)


@shared_task(acks_late=True)
def site_check_drift(site_id: int) -> list[str]:
    """Ask the runtime whether every piece of a running site is still there; repair what is not."""
    tenant = current_tenant()
    site = Site.objects.filter(pk=site_id, status__in=(SiteStatus.READY, SiteStatus.SUSPENDED)).first()
    if site is None:
        return []
    spec = pipeline.site_spec(site=site, tenant=tenant)
    missing = [step.name for step in pipeline.STEPS if not pipeline.driver_of(step.name, site).status(step.name, spec)]
    if missing:
        logger.warning("site pieces missing", extra={"site": site.slug, "missing": missing})
        services.site_repair(tenant=tenant, site_id=site_id, missing=missing)
    return missing


# The CDN limits how often it may be asked (Cloudflare's free plan: 5 purges a minute per account):
# a refused purge is asked again after 30 s, 1, 2, 4 and 8 minutes.
EDGE_PURGE_RETRIES = 5
EDGE_PURGE_FIRST_WAIT_SECONDS = 30


@shared_task(bind=True, max_retries=EDGE_PURGE_RETRIES, acks_late=True)
def site_cache_edge_purge(self: Task, site_id: int, hostnames: list[str], urls: list[str]) -> str:
    """Empty the CDN's copies of a site's pages (sites.services.site_cache_purge queued it)."""
    from sites import page_cache

    edge = page_cache.edge_cache()
    if edge is None:
        return "no CDN"
    try:
        detail = edge.edge_purge(hostnames, urls)
    except StepError as exc:
        if self.request.retries >= EDGE_PURGE_RETRIES:
            services.site_cache_edge_purged(
                tenant=current_tenant(), site_id=site_id, detail=f"the CDN: {exc}", failed=True
            )
            raise
        logger.warning("the CDN refused a purge; asking again later", extra={"site_id": site_id})
        raise self.retry(exc=exc, countdown=EDGE_PURGE_FIRST_WAIT_SECONDS * 2**self.request.retries) from exc
    services.site_cache_edge_purged(tenant=current_tenant(), site_id=site_id, detail=f"the CDN: {detail}", failed=False)
    return detail


@shared_task(acks_late=True)
def sites_follow_tenant(suspended: bool) -> int:
    return services.sites_follow_tenant(tenant=current_tenant(), suspended=suspended)


@shared_task(acks_late=True)
def sites_delete_all() -> int:
    return services.sites_delete_all(tenant=current_tenant())


@shared_task
def sites_reconcile() -> dict[str, int]:
    """Every minute: one task per site that needs attention (see the module's docstring)."""
    now = timezone.now()
    due = list(SiteRecord.objects.filter(attention_at__lte=now).select_related("tenant")[:RECONCILE_BATCH])
    for record in due:
        SiteRecord.objects.filter(pk=record.pk).update(
            attention_at=now + timedelta(seconds=settings.SITES_STEP_STALE_SECONDS)
        )
        send_in_tenant(site_operations_advance, record.tenant, record.site_id)
    checked_before = now - timedelta(seconds=settings.SITES_DRIFT_CHECK_SECONDS)
    stale = list(
        SiteRecord.objects.filter(status__in=(SiteStatus.READY, SiteStatus.SUSPENDED), attention_at=None)
        .filter(Q(checked_at=None) | Q(checked_at__lte=checked_before))
        .select_related("tenant")
        .order_by("checked_at")[:RECONCILE_BATCH]
    )
    for record in stale:
        SiteRecord.objects.filter(pk=record.pk).update(checked_at=now)
        send_in_tenant(site_check_drift, record.tenant, record.site_id)
    return {"advanced": len(due), "checked": len(stale)}


def follow_tenant(tenant: Tenant, *, suspended: bool) -> None:
    send_in_tenant(sites_follow_tenant, tenant, suspended)


def delete_all(tenant: Tenant) -> None:
    send_in_tenant(sites_delete_all, tenant)
