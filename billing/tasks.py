"""Costs on Celery beat: the local meter, the aggregation with what follows it (budgets, anomalies),
undoing budget actions, and the emails they send."""

import logging
from typing import Any

from celery import shared_task
from django.core.mail import send_mail

from billing import aggregation, metering, services
from kernel.drivers import configured

logger = logging.getLogger(__name__)


@shared_task
def billing_meter() -> dict[str, int]:
    """Every 15 minutes: local sites' usage since the last run, as billing-export rows."""
    if configured("costs") != "local":  # BigQuery's export is the record: the meter's rows would go unread
        return {"sites": 0, "rows": 0, "skipped": 0}
    result = metering.meter_local_sites()
    return {"sites": result.sites, "rows": result.rows, "skipped": result.skipped}


@shared_task
def billing_aggregate_recent() -> dict[str, Any]:
    """The recent days' cost records, then the budgets and the anomalies that read them."""
    start, end = aggregation.recent_range()
    result = aggregation.costs_aggregate(start=start, end=end)
    budgets = services.budgets_evaluate()
    alerts = services.anomalies_detect()
    return {
        "start": str(start),
        "end": str(end),
        "groups": result.groups,
        "notices": budgets.notices,
        "enforced": budgets.enforced,
        "alerts": alerts,
    }


@shared_task
def billing_budgets_undo_due() -> int:
    return services.budgets_undo_due()


@shared_task(bind=True, acks_late=True, max_retries=5)
def billing_email(self: Any, subject: str, body: str, recipients: list[str]) -> int:
    try:
        return send_mail(subject, body, None, recipients)
    except OSError as exc:  # the mail server is away: try again later
        raise self.retry(exc=exc, countdown=60 * 2**self.request.retries) from exc
