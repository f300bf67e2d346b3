"""The assistant's cost tools: what was spent (tenant_costs) and the monthly budget (set_budget).
Registered in chat.tools; the figures come from billing's selectors, as the acting user."""

import re
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from billing import selectors as cost_selectors
from billing import services as cost_services
from kernel.errors import InvalidInput, NotPermitted
from tenants.audit import Actor

if TYPE_CHECKING:
    from chat.tools import ToolContext, ToolResult

PERIODS = ("this_month", "last_month", "this_year")
GROUPS = ("day", "site", "service")
STAFF_GROUPS = (*GROUPS, "tenant")
_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def period_range(
    period: str | None, start: Any = None, end: Any = None, *, today: date | None = None
) -> tuple[date, date, str]:
    """The days a period names, and how to say it: `this_month` (the default), `last_month`,
    `this_year`, a month (`2026-10`), or explicit start and end (YYYY-MM-DD)."""
    today = today or timezone.now().date()
    if start or end:
        first, last = cost_selectors.parse_range(start, end, today=today)
        return first, last, f"from {first:%d %B %Y} to {last:%d %B %Y}"
    period = (period or "this_month").strip().lower()
    if period == "this_month":
        return cost_selectors.month_start(today), today, f"{today:%B %Y} so far"
    if period == "last_month":
        first = cost_selectors.previous_month(today)
        return first, cost_selectors.month_end(first), f"{first:%B %Y}"
    if period == "this_year":
        return date(today.year, 1, 1), today, f"{today.year} so far"
    found = _MONTH.match(period)
    if found is None:
        raise InvalidInput(
            f"period: {period!r} is not one of {', '.join(PERIODS)} or a month such as 2026-10.", field="period"
        )
    first = date(int(found[1]), int(found[2]), 1)
    if first > today:
        raise InvalidInput(f"{first:%B %Y} has not begun yet.", field="period")
    last = min(cost_selectors.month_end(first), today)
    return first, last, f"{first:%B %Y}" + (" so far" if last == today else "")


def _money(value: Decimal, currency: str) -> str:
    return f"{value:,.2f} {currency}"


def _total_text(totals: dict[str, dict[str, Decimal]]) -> str:
    if not totals:
        return "nothing"
    return " and ".join(_money(parts["net"], currency) for currency, parts in sorted(totals.items()))


def tenant_costs(context: "ToolContext", arguments: dict[str, Any]) -> "ToolResult":
    from chat.tools import ToolResult

    group_by = str(arguments.get("group_by") or "site")
    if group_by == "tenant":
        return tenant_costs_across(context.actor, arguments)
    if group_by not in GROUPS:
        raise InvalidInput(f"group_by: use one of {', '.join(GROUPS)}.", field="group_by")
    start, end, said = period_range(arguments.get("period"), arguments.get("start"), arguments.get("end"))
    report = cost_selectors.costs_report(
        tenant=context.tenant, actor=context.actor, start=start, end=end, group_by=group_by
    )
    lines = [f"{context.tenant.slug} spent {_total_text(report.totals)} in {said} (net of credits)."]
    rows = report.rows
    if group_by == "day":
        rows = [row for row in rows if row["net"]][-31:]
        lines += [f"- {row['day']:%a %d %b}: {_money(row['net'], row['currency'])}" for row in rows]
    elif rows:
        label = {"site": "By site", "service": "By service"}[group_by]
        lines.append(label + ":")
        lines += [
            f"- {row[group_by] or '(not a site: the assistant, shared costs)'}: {_money(row['net'], row['currency'])}"
            for row in rows[:10]
        ]
        top = next((row for row in rows if row[group_by]), None)
        if top is not None and group_by == "site":
            lines.append(f"The site that cost most: {top['site']} ({_money(top['net'], top['currency'])}).")
    data: dict[str, Any] = {
        "tenant": context.tenant.slug,
        "start": str(start),
        "end": str(end),
        "group_by": group_by,
        "totals": {c: {k: str(v) for k, v in parts.items()} for c, parts in report.totals.items()},
        "rows": [{**row, **{k: str(row[k]) for k in ("gross", "credits", "net")}} for row in rows[:31]],
    }
    if group_by == "day":
        data["rows"] = [{**row, "day": str(row["day"])} for row in data["rows"]]
    return ToolResult(message="\n".join(lines), data=data)


def tenant_costs_across(actor: Actor, arguments: dict[str, Any]) -> "ToolResult":
    """Staff only: the tenants that cost most in the period."""
    from chat.tools import ToolResult

    if not (actor.is_staff or actor.is_system):
        raise NotPermitted("Only platform staff can compare organisations' costs.")
    start, end, said = period_range(arguments.get("period"), arguments.get("start"), arguments.get("end"))
    top = cost_selectors.tenants_by_cost(actor=actor, start=start, end=end)
    lines = [f"The organisations that cost most in {said}:"]
    lines += [f"- {row['tenant']}: {_money(row['net'], row['currency'])}" for row in top[:10]]
    if not top:
        lines = [f"No organisation has any cost in {said}."]
    rows = [{**row, "net": str(row["net"])} for row in top[:20]]
    return ToolResult(message="\n".join(lines), data={"start": str(start), "end": str(end), "tenants": rows})


def set_budget(context: "ToolContext", arguments: dict[str, Any]) -> "ToolResult":
    from chat.tools import ToolResult

    site = arguments.get("site")
    budget = cost_services.budget_set(
        tenant=context.tenant, actor=context.actor, amount=arguments.get("amount"), site=site or None
    )
    what = f"“{budget.site_slug}”" if budget.site_slug else context.tenant.slug
    message = (
        f"The monthly budget of {what} is now {_money(budget.amount, budget.currency)}. "
        "Owners and billing members get an email at 80% and at 100% of it."
    )
    data = {"site": budget.site_slug or None, "amount": str(budget.amount), "currency": budget.currency}
    return ToolResult(message=message, data=data, site=budget.site_slug)
