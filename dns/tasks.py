"""Domain checks on Celery: the beat finds the domains whose check is due and queues one task each."""

import logging
from datetime import timedelta

from celery import shared_task
from django.db import transaction
from django.utils import timezone

from dns import services
from dns.drivers import provider
from dns.models import CustomDomain, DomainStatus
from dns.providers.base import DnsError

logger = logging.getLogger(__name__)

BATCH = 200
LEASE_SECONDS = 120  # a queued check that never ran (a lost message) is queued again after this


@shared_task(acks_late=True)
def domain_check_task(domain_id: int) -> str:
    checked = services.domain_check(domain_id=domain_id)
    return checked.status if checked is not None else "gone"


@shared_task
def domains_verify_due() -> int:
    """Every 30 s: a check for each domain that is due (pending ones back off; see services)."""
    now = timezone.now()
    with transaction.atomic():
        due = list(
            CustomDomain.objects.select_for_update(skip_locked=True)
            .filter(next_check_at__lte=now)
            .exclude(status=DomainStatus.FAILED)
            .order_by("next_check_at")
            .values_list("pk", flat=True)[:BATCH]
        )
        CustomDomain.objects.filter(pk__in=due).update(next_check_at=now + timedelta(seconds=LEASE_SECONDS))
    for domain_id in due:
        domain_check_task.delay(domain_id)
    return len(due)


@shared_task(bind=True, acks_late=True, max_retries=8)
def domain_provider_remove(self: object, hostname: str, reference: str) -> str:
    """The provider stops routing a removed domain; retried with backoff while it cannot be reached."""
    if CustomDomain.objects.filter(hostname=hostname).exists():
        # Added again since (by its tenant, or by another after a lapsed claim): the new row owns the
        # provider's hostname now, and deleting by the old id could remove what it adopted.
        return f"{hostname} is in use again: left alone"
    try:
        provider().custom_hostname_remove(hostname, reference)
    except DnsError as exc:
        logger.warning("a custom hostname could not be removed yet", extra={"domain": hostname, "error": str(exc)})
        raise self.retry(exc=exc, countdown=min(600, 15 * 2**self.request.retries)) from exc  # type: ignore[attr-defined]
    return hostname
