"""Billing-export rows to daily cost records: per tenant, site, service, day and currency.

One transaction per run, under an advisory lock (two runs of overlapping ranges take turns): the
source's groups land in a temporary table, the assistant's metered usage joins them as its own
service, and one INSERT … ON CONFLICT writes them with the tenant and the site's name looked up;
records of the range that the run did not write are deleted. Rerunning a range therefore gives the
same records, whatever ran before. A source whose rows live in this database (the local one) fills
the temporary table with one INSERT … SELECT; any other source's groups are copied in.
"""

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Protocol, runtime_checkable

from django.db import connection, transaction
from django.utils import timezone

from billing.drivers import source as configured_source
from billing.models import AggregationRun, AiUsage, CostRecord
from billing.sources.base import CostSource
from kernel.drivers import configured
from kernel.errors import InvalidInput
from sites.inventory.models import SiteRecord
from tenants.models import Tenant

AI_SERVICE = "AIPress assistant"
MAX_DAYS = 400
_LOCK = 0x61697072657373  # "aipress": one advisory lock for every aggregation


@runtime_checkable
class InDatabaseSource(Protocol):
    def daily_costs_sql(self) -> str:
        """A SELECT of (tenant_label, site_label, service, day, currency, gross, credits) for days
        %(start)s to %(end)s, run by the platform's own database."""
        ...


@dataclass(frozen=True)
class AggregationResult:
    start: date
    end: date
    groups: int
    deleted: int


_DAILY_TABLE = "billing_daily_groups"
_CREATE = f"""
CREATE TEMPORARY TABLE {_DAILY_TABLE} (
    tenant_label text NOT NULL, site_label text NOT NULL, service text NOT NULL, day date NOT NULL,
    currency text NOT NULL, gross numeric NOT NULL, credits numeric NOT NULL
) ON COMMIT DROP
"""
_AI_USAGE = f"""
INSERT INTO {_DAILY_TABLE}
SELECT tenant_id::text, '', %(service)s, (created_at AT TIME ZONE 'UTC')::date, currency, SUM(cost), 0
FROM {AiUsage._meta.db_table}
WHERE tenant_id IS NOT NULL AND created_at >= %(start)s::date AND created_at < %(end)s::date + 1
GROUP BY 1, 4, 5
"""
_TUNING = (
    # One big GROUP BY per run: no JIT (it costs seconds to compile here), its hash table in memory,
    # and parallel workers even when the planner overestimates the number of groups.
    "SET LOCAL jit = off",
    "SET LOCAL work_mem = '256MB'",
    "SET LOCAL parallel_tuple_cost = 0.01",
)
_MERGE = f"""
INSERT INTO {CostRecord._meta.db_table}
    (tenant_id, tenant_label, site_label, site_slug, service, day, currency, gross, credits, net, updated_at)
SELECT t.id, d.tenant_label, d.site_label, COALESCE(MAX(s.slug), ''), d.service, d.day, d.currency,
       ROUND(SUM(d.gross), 6), ROUND(SUM(d.credits), 6), ROUND(SUM(d.gross), 6) + ROUND(SUM(d.credits), 6),
       %(stamp)s
FROM {_DAILY_TABLE} d
-- Labels are the ids as text (sites.runtimes.cloudrun.names): compared as text, anything else (a
-- label of no tenant, not a number at all) matches nothing and stays unattributed.
LEFT JOIN {Tenant._meta.db_table} t ON t.id::text = d.tenant_label
LEFT JOIN {SiteRecord._meta.db_table} s ON s.tenant_id = t.id AND s.site_id::text = d.site_label
GROUP BY t.id, d.tenant_label, d.site_label, d.service, d.day, d.currency
ON CONFLICT (tenant_label, site_label, service, day, currency) DO UPDATE SET
    tenant_id = EXCLUDED.tenant_id, gross = EXCLUDED.gross, credits = EXCLUDED.credits, net = EXCLUDED.net,
    updated_at = EXCLUDED.updated_at,
    -- A deleted site's inventory row is gone: keep the name it had.
    site_slug = CASE WHEN EXCLUDED.site_slug <> '' THEN EXCLUDED.site_slug
                     ELSE {CostRecord._meta.db_table}.site_slug END
-- A record that did not change is not written again (re-runs touch only what moved).
WHERE ({CostRecord._meta.db_table}.tenant_id, {CostRecord._meta.db_table}.gross, {CostRecord._meta.db_table}.credits)
      IS DISTINCT FROM (EXCLUDED.tenant_id, EXCLUDED.gross, EXCLUDED.credits)
   OR (EXCLUDED.site_slug <> '' AND EXCLUDED.site_slug <> {CostRecord._meta.db_table}.site_slug)
"""
# Records of the range that no group backs any more (a corrected export withdrew their rows).
_STALE = f"""
DELETE FROM {CostRecord._meta.db_table} c WHERE c.day BETWEEN %(start)s AND %(end)s AND NOT EXISTS (
    SELECT 1 FROM {_DAILY_TABLE} d WHERE d.tenant_label = c.tenant_label AND d.site_label = c.site_label
    AND d.service = c.service AND d.day = c.day AND d.currency = c.currency
)
"""


def check_range(start: date, end: date, *, max_days: int = MAX_DAYS) -> None:
    if end < start:
        raise InvalidInput(f"The range is reversed: end ({end}) is before start ({start}).", field="end")
    if (end - start).days + 1 > max_days:
        raise InvalidInput(f"The range is longer than {max_days} days; aggregate it in parts.", field="end")


def costs_aggregate(*, start: date, end: date, source: CostSource | None = None) -> AggregationResult:
    """Write the cost records of the days from `start` to `end` (UTC, inclusive) from the source."""
    check_range(start, end)
    source = source or configured_source()
    stamp = timezone.now()
    params: dict[str, Any] = {"start": start, "end": end, "stamp": stamp, "service": AI_SERVICE}
    latest = source.latest_usage()
    groups = None if isinstance(source, InDatabaseSource) else source.daily_costs(start=start, end=end)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [_LOCK])
        # Inside an outer transaction (a caller's atomic block) ON COMMIT has not come yet: start clean.
        cursor.execute(f"DROP TABLE IF EXISTS pg_temp.{_DAILY_TABLE}")
        for setting in _TUNING:
            cursor.execute(setting)
        if groups is None:
            # CREATE TABLE AS may run its SELECT in parallel; INSERT … SELECT may not (PostgreSQL 15).
            sql = source.daily_costs_sql()  # type: ignore[attr-defined]  # InDatabaseSource, checked above
            cursor.execute(f"CREATE TEMPORARY TABLE {_DAILY_TABLE} ON COMMIT DROP AS {sql}", params)
        else:
            cursor.execute(_CREATE)
            raw: Any = cursor.cursor  # psycopg 3's own cursor under Django's wrapper: it can COPY
            with raw.copy(f"COPY {_DAILY_TABLE} FROM STDIN") as copy:
                for group in groups:
                    labels = (group.tenant_label, group.site_label)
                    copy.write_row((*labels, group.service, group.day, group.currency, group.gross, group.credits))
        cursor.execute(_AI_USAGE, params)
        cursor.execute(f"ANALYZE {_DAILY_TABLE}")
        cursor.execute(f"SELECT count(*) FROM {_DAILY_TABLE}")
        written = int(cursor.fetchone()[0])
        cursor.execute(_MERGE, params)
        cursor.execute(_STALE, params)
        deleted = cursor.rowcount
        AggregationRun.objects.create(
            source=configured("costs"), start=start, end=end, groups=written, latest_usage=latest
        )
    return AggregationResult(start=start, end=end, groups=written, deleted=deleted)


def recent_range(today: date | None = None) -> tuple[date, date]:
    """What the scheduled run aggregates: this month so far, and during the first days of a month
    the previous month too (exports keep adjusting a month for a few days after it ends)."""
    today = today or timezone.now().date()
    first = today.replace(day=1)
    start = (first - timedelta(days=1)).replace(day=1) if today.day <= 5 else first
    return start, today
