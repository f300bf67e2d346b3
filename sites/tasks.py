"""The site pipeline on Celery: one task per provisioning step, retried with backoff; deletion;
and the reconciler that resumes what a dead worker left and repairs what went missing."""

import logging

from celery import shared_task
from django.conf import settings
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from sites import services
from sites.inventory.models import SiteRecord
from sites.models import Site, SiteEvent, SiteStatus
from sites.runtimes import get_runtime
from tenants.models import Tenant

logger = logging.getLogger(__name__)

STEP_RETRIES = 4


@shared_task(bind=True, max_retries=STEP_RETRIES, acks_late=True)
def site_provision_step(self, site_id: int) -> str:  # noqa: ANN001 - Celery binds the task
    tenant = connection.tenant  # set from the task's _schema_name header
    try:
        return services.site_run_next_step(site_id=site_id, tenant=tenant)
    except Exception as exc:  # every failure is retried; the last one marks the site failed
        if self.request.retries >= self.max_retries:
            services.site_provision_failed(site_id=site_id, tenant=tenant, error=str(exc))
            raise
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc


@shared_task(bind=True, max_retries=STEP_RETRIES, acks_late=True)
def site_delete_resources(self, site_id: int) -> None:  # noqa: ANN001
    try:
        services.site_delete_run(site_id=site_id, tenant=connection.tenant)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc


@shared_task(bind=True, max_retries=STEP_RETRIES, acks_late=True)
def sites_follow_tenant(self, suspended: bool) -> int:  # noqa: ANN001
    try:
        return services.sites_follow_tenant(tenant=connection.tenant, suspended=suspended)
    except Exception as exc:
        raise self.retry(exc=exc, countdown=2 ** (self.request.retries + 1)) from exc


@shared_task
def sites_reconcile() -> dict[str, int]:
    """Every minute: compare what should exist with what does, across all tenants."""
    counts = {"resumed": 0, "deleting": 0, "repaired": 0}
    stale_before = timezone.now() - timezone.timedelta(seconds=settings.SITES_STEP_STALE_SECONDS)
    tenant_ids = SiteRecord.objects.values_list("tenant_id", flat=True).distinct()
    for tenant in Tenant.objects.filter(pk__in=list(tenant_ids)):
        with tenant_context(tenant):
            for site in Site.objects.filter(status=SiteStatus.PROVISIONING, step_queued_at__lt=stale_before):
                # The worker that had this step died (or the message was lost): queue it again.
                Site.objects.filter(pk=site.pk).update(step_queued_at=timezone.now())
                services._queue_step(tenant, site.pk)
                counts["resumed"] += 1
            for site in Site.objects.filter(status=SiteStatus.DELETING, updated_at__lt=stale_before):
                services._queue_delete(tenant, site.pk)
                counts["deleting"] += 1
            for site in Site.objects.filter(status=SiteStatus.READY):
                counts["repaired"] += _repair(site, tenant)
    return counts


def _repair(site: Site, tenant: Tenant) -> int:
    runtime = get_runtime(site.runtime)
    spec = services.site_spec(site=site, tenant=tenant)
    missing = runtime.missing(spec)
    for step in missing:
        try:
            detail = runtime.provision_step(step, spec)
        except Exception as exc:  # keep reconciling the other sites; the failure is recorded
            logger.exception("repair failed", extra={"site": site.slug, "step": step})
            SiteEvent.objects.create(site=site, step=step, outcome=SiteEvent.Outcome.FAILED, detail=str(exc)[:2000])
            continue
        SiteEvent.objects.create(
            site=site, step=step, outcome=SiteEvent.Outcome.REPAIRED, detail=f"was missing; {detail}"
        )
    return len(missing)
