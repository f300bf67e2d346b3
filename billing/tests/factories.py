"""Billing-export rows as Google's export holds them, and cost records, for the tests."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from billing.models import CostRecord
from tenants.models import Tenant


def export_row(
    *,
    day: date,
    cost: str,
    tenant: int | str | None = None,
    site: int | str | None = None,
    service: str = "Cloud Run",
    sku: str = "CPU Allocation Time",
    credits: list[str] = (),  # type: ignore[assignment]
    currency: str = "USD",
    hour: int = 10,
) -> dict[str, Any]:
    labels = []
    if tenant is not None:
        labels.append({"key": "aipress-tenant-id", "value": str(tenant)})
    if site is not None:
        labels.append({"key": "aipress-site-id", "value": str(site)})
    labels.append({"key": "goog-managed-by", "value": "cloudrun"})
    start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC)
    return {
        "billing_account_id": "01A2B3-C4D5E6-F7A8B9",
        "service": {"id": f"svc-{service.lower().replace(' ', '-')}", "description": service},
        "sku": {"id": f"sku-{sku.lower().replace(' ', '-')}", "description": sku},
        "usage_start_time": start.isoformat().replace("+00:00", "Z"),
        "usage_end_time": (start + timedelta(hours=1)).isoformat().replace("+00:00", "Z"),
        "project": {"id": "aipress-prod"},
        "labels": labels,
        "cost": float(cost),
        "currency": currency,
        "credits": [{"name": "Free tier", "amount": float(amount), "type": "FREE_TIER"} for amount in credits],
        "usage": {"amount": 3600, "unit": "seconds"},
        "invoice": {"month": f"{day:%Y%m}"},
    }


def cost(
    tenant: Tenant, day: date, net: str, *, site: tuple[int, str] | None = None, service: str = "Cloud Run"
) -> None:
    """A daily cost record, as the aggregation writes it."""
    CostRecord.objects.update_or_create(
        tenant_label=str(tenant.pk),
        site_label=str(site[0]) if site else "",
        service=service,
        day=day,
        currency="USD",
        defaults={
            "tenant": tenant,
            "site_slug": site[1] if site else "",
            "gross": Decimal(net),
            "credits": Decimal(0),
            "net": Decimal(net),
        },
    )
