"""Every read of costs, scoped to one tenant (or, for staff, across them). Answers plain data."""

import calendar
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from billing.aggregation import check_range
from billing.models import AggregationRun, Budget, CostAlert, CostRecord
from billing.roles import require_cost_reader
from kernel.errors import InvalidInput
from tenants.audit import Actor
from tenants.models import Tenant
from tenants.roles import require_staff

GROUPS = ("day", "month", "site", "service")
MAX_RANGE_DAYS = 366
NO_SITE = ""  # cost of the tenant that no site label accounts for (the assistant, for one)


def month_start(day: date) -> date:
    return day.replace(day=1)


def month_end(day: date) -> date:
    return day.replace(day=calendar.monthrange(day.year, day.month)[1])


def previous_month(day: date) -> date:
    return month_start(month_start(day) - timedelta(days=1))


def parse_range(start: str | None, end: str | None, *, today: date | None = None) -> tuple[date, date]:
    """A range from query parameters (YYYY-MM-DD, both ends included); this month when both are absent."""
    today = today or timezone.now().date()
    days = {}
    for name, value, default in (("start", start, month_start(today)), ("end", end, today)):
        if value in (None, ""):
            days[name] = default
            continue
        try:
            days[name] = date.fromisoformat(str(value))
        except ValueError:
            raise InvalidInput(f"{name}: {value!r} is not a date; use YYYY-MM-DD.", field=name) from None
    check_range(days["start"], days["end"], max_days=MAX_RANGE_DAYS)
    return days["start"], days["end"]


def check_group(group_by: str | None) -> str:
    group_by = group_by or "day"
    if group_by not in GROUPS:
        raise InvalidInput(f"group_by: {group_by!r} is not one of {', '.join(GROUPS)}.", field="group_by")
    return group_by


@dataclass(frozen=True)
class Freshness:
    aggregated_at: datetime | None
    latest_usage: datetime | None


def freshness() -> Freshness:
    run = AggregationRun.objects.order_by("-finished_at").first()
    return Freshness(aggregated_at=run.finished_at if run else None, latest_usage=run.latest_usage if run else None)


@dataclass
class CostReport:
    tenant: str
    start: date
    end: date
    group_by: str
    rows: list[dict[str, Any]]
    totals: dict[str, dict[str, Decimal]]  # currency → gross, credits, net
    site_labelled_share: Decimal | None
    freshness: Freshness = field(default_factory=freshness)


def _records(tenant: Tenant, start: date, end: date) -> "QuerySet[CostRecord]":
    return CostRecord.objects.filter(tenant=tenant, day__range=(start, end))


def _sums() -> dict[str, Any]:
    return {"gross": Sum("gross"), "credits": Sum("credits"), "net": Sum("net")}


def costs_report(*, tenant: Tenant, actor: Actor, start: date, end: date, group_by: str = "day") -> CostReport:
    """The tenant's cost from `start` to `end` grouped by day, month, site or service, per currency."""
    require_cost_reader(actor, tenant)
    group_by = check_group(group_by)
    check_range(start, end, max_days=MAX_RANGE_DAYS)
    records = _records(tenant, start, end)
    grouped: Any
    if group_by == "month":
        grouped = records.annotate(month=TruncMonth("day")).values("month", "currency")
    elif group_by == "site":
        grouped = records.values("site_label", "currency").annotate(site=Max("site_slug"))
    else:
        grouped = records.values({"day": "day", "service": "service"}[group_by], "currency")
    rows = []
    for row in grouped.annotate(**_sums()).order_by():
        item: dict[str, Any] = {"currency": row["currency"], "gross": row["gross"], "credits": row["credits"]}
        item["net"] = row["net"]
        if group_by == "month":
            item = {"month": f"{row['month']:%Y-%m}", **item}
        elif group_by == "site":
            item = {"site": row["site"] or NO_SITE, **item}
        else:
            item = {group_by: row[group_by], **item}
        rows.append(item)
    if group_by in ("site", "service"):
        rows.sort(key=lambda item: (-item["net"], str(item[group_by])))
    else:
        rows.sort(key=lambda item: str(item[group_by]))
    totals: dict[str, dict[str, Decimal]] = {}
    for row in rows:
        total = totals.setdefault(row["currency"], {"gross": Decimal(0), "credits": Decimal(0), "net": Decimal(0)})
        for part in ("gross", "credits", "net"):
            total[part] += row[part]
    # In the tenant's main currency: amounts of two currencies do not add up.
    labelled = records.filter(currency=main_currency(tenant, start, end)).aggregate(
        all=Sum("net"), sited=Sum("net", filter=~Q(site_label=""))
    )
    share = None
    if labelled["all"]:
        share = (Decimal(labelled["sited"] or 0) / Decimal(labelled["all"])).quantize(Decimal("0.0001"))
    return CostReport(
        tenant=tenant.slug,
        start=start,
        end=end,
        group_by=group_by,
        rows=rows,
        totals=totals,
        site_labelled_share=share,
    )


def _net_by_day(tenant: Tenant, start: date, end: date, *, currency: str) -> dict[date, Decimal]:
    rows = _records(tenant, start, end).filter(currency=currency).values("day").annotate(net=Sum("net"))
    return {row["day"]: row["net"] for row in rows}


def main_currency(tenant: Tenant, start: date | None = None, end: date | None = None) -> str:
    """The currency most of the tenant's records are in (within `start`..`end` when given)."""
    from django.conf import settings

    records = CostRecord.objects.filter(tenant=tenant)
    if start is not None and end is not None:
        records = records.filter(day__range=(start, end))
    found = records.values("currency").annotate(n=Count("id")).order_by("-n").first()
    return found["currency"] if found else settings.BILLING_CURRENCY


@dataclass
class MonthSummary:
    month: date
    today: date
    currency: str
    month_to_date: Decimal
    forecast: Decimal
    daily: list[tuple[date, Decimal]]
    by_site: list[dict[str, Any]]
    by_service: list[dict[str, Any]]
    budgets: list[dict[str, Any]]
    alerts: list[CostAlert]
    site_labelled_share: Decimal | None
    freshness: Freshness
    other_currencies: list[str]


def forecast_month(daily: dict[date, Decimal], today: date) -> Decimal:
    """Month to date from the complete days, and for the rest of the month (today included: its
    figures are partial) the mean of the last seven complete days, this month's or the last's."""
    first = month_start(today)
    complete = [first + timedelta(days=n) for n in range((today - first).days)]
    so_far = sum((daily.get(day, Decimal(0)) for day in complete), Decimal(0))
    # The last seven complete days, or fewer when the cost began since (a new tenant's two days).
    began = min((day for day, net in daily.items() if net), default=today)
    recent = [today - timedelta(days=n) for n in range(1, 8) if today - timedelta(days=n) >= began]
    mean = sum((daily.get(day, Decimal(0)) for day in recent), Decimal(0)) / Decimal(max(1, len(recent)))
    remaining = (month_end(today) - today).days + 1
    return (so_far + mean * remaining).quantize(Decimal("0.01"))


def month_summary(*, tenant: Tenant, actor: Actor, today: date | None = None) -> MonthSummary:
    """What the portal's Billing page shows: this month so far, its forecast, where it went."""
    require_cost_reader(actor, tenant)
    today = today or timezone.now().date()
    first = month_start(today)
    currency = main_currency(tenant)
    daily = _net_by_day(tenant, first - timedelta(days=7), today, currency=currency)
    month = _records(tenant, first, today).filter(currency=currency)
    by_site = list(month.values("site_label").annotate(site=Max("site_slug"), net=Sum("net")).order_by("-net", "site"))
    by_service = list(month.values("service").annotate(net=Sum("net")).order_by("-net", "service"))
    labelled = month.aggregate(all=Sum("net"), sited=Sum("net", filter=~Q(site_label="")))
    share = None
    if labelled["all"]:
        share = (Decimal(labelled["sited"] or 0) / Decimal(labelled["all"])).quantize(Decimal("0.0001"))
    others = sorted(set(_records(tenant, first, today).exclude(currency=currency).values_list("currency", flat=True)))
    return MonthSummary(
        month=first,
        today=today,
        currency=currency,
        month_to_date=sum((net for day, net in daily.items() if day >= first), Decimal(0)),
        forecast=forecast_month(daily, today),
        daily=[(first + timedelta(days=n), daily.get(first + timedelta(days=n), Decimal(0))) for n in range(today.day)],
        by_site=[{"site": row["site"] or NO_SITE, "net": row["net"]} for row in by_site],
        by_service=[{"service": row["service"], "net": row["net"]} for row in by_service],
        budgets=budgets_status(tenant=tenant, actor=actor, today=today),
        alerts=list(CostAlert.objects.filter(tenant=tenant, day__gte=first - timedelta(days=7)).order_by("-day")[:10]),
        site_labelled_share=share,
        freshness=freshness(),
        other_currencies=others,
    )


def spent_in_month(*, tenant: Tenant, month: date, currency: str, site_id: int | None = None) -> Decimal:
    records = _records(tenant, month_start(month), month_end(month)).filter(currency=currency)
    if site_id is not None:
        records = records.filter(site_label=str(site_id))
    return Decimal(records.aggregate(net=Sum("net"))["net"] or 0)


def budgets_status(*, tenant: Tenant, actor: Actor, today: date | None = None) -> list[dict[str, Any]]:
    """Each budget of the tenant with what was spent against it this month."""
    require_cost_reader(actor, tenant)
    today = today or timezone.now().date()
    answer = []
    for budget in Budget.objects.filter(tenant=tenant).order_by(F("site_id").asc(nulls_first=True), "site_slug"):
        spent = spent_in_month(tenant=tenant, month=today, currency=budget.currency, site_id=budget.site_id)
        percent = int(spent * 100 / budget.amount) if budget.amount else 0
        answer.append({"budget": budget, "spent": spent, "percent": percent})
    return answer


@dataclass
class StaffOverview:
    month: date
    top: list[dict[str, Any]]
    unattributed: list[dict[str, Any]]
    totals: list[dict[str, Any]]


def staff_cost_overview(*, actor: Actor, today: date | None = None, limit: int = 20) -> StaffOverview:
    """Across tenants: the top tenants this month with last month beside them, and cost no tenant
    label accounts for."""
    require_staff(actor, "Only platform staff see costs across organisations.")
    today = today or timezone.now().date()
    first, last_first = month_start(today), previous_month(today)
    this_month = Q(day__range=(first, today))
    last_month = Q(day__range=(last_first, month_end(last_first)))
    # Last month to the same day: what this month so far compares with.
    last_to_date = Q(day__range=(last_first, min(month_end(last_first), last_first + (today - first))))
    top = list(
        CostRecord.objects.filter(tenant__isnull=False)
        .filter(this_month | last_month)
        .values("tenant__slug", "tenant__name", "currency")
        .annotate(
            this_month=Sum("net", filter=this_month),
            last_month=Sum("net", filter=last_month),
            last_to_date=Sum("net", filter=last_to_date),
        )
        .order_by(F("this_month").desc(nulls_last=True))[:limit]
    )
    for row in top:
        row["this_month"] = row["this_month"] or Decimal(0)
        row["last_month"] = row["last_month"] or Decimal(0)
        row["last_to_date"] = row["last_to_date"] or Decimal(0)
        row["change"] = (
            ((row["this_month"] - row["last_to_date"]) / row["last_to_date"] * 100).quantize(Decimal("0.1"))
            if row["last_to_date"]
            else None
        )
    unattributed = list(
        CostRecord.objects.filter(tenant__isnull=True, day__range=(first, today))
        .values("tenant_label", "service", "currency")
        .annotate(net=Sum("net"))
        .order_by("-net")[:limit]
    )
    totals = list(
        CostRecord.objects.filter(this_month)
        .values("currency")
        .annotate(all_net=Sum("net"), attributed=Sum("net", filter=Q(tenant__isnull=False)))
        .order_by("currency")
    )
    return StaffOverview(month=first, top=top, unattributed=unattributed, totals=totals)


def tenants_by_cost(*, actor: Actor, start: date, end: date, limit: int = 20) -> list[dict[str, Any]]:
    """Staff: the tenants that cost most from `start` to `end`, per currency."""
    require_staff(actor, "Only platform staff see costs across organisations.")
    check_range(start, end, max_days=MAX_RANGE_DAYS)
    rows = (
        CostRecord.objects.filter(tenant__isnull=False, day__range=(start, end))
        .values("tenant__slug", "currency")
        .annotate(net=Sum("net"))
        .order_by("-net")[:limit]
    )
    return [{"tenant": row["tenant__slug"], "currency": row["currency"], "net": row["net"]} for row in rows]
