"""Billing-export rows to daily cost records: per tenant, site, service, day and currency.

One transaction per run, under an advisory lock (two runs of overlapping ranges take turns). One
CREATE TEMPORARY TABLE … AS statement does the reading: the source's groups, the assistant's metered
usage as its own service, the tenant and the site's name looked up, and the record each group already
has (if any), compared with it. Three plain statements then write from that table: DELETE the
records of the range that no group backs any more, UPDATE the records whose values changed, INSERT the
missing ones. Rerunning a range therefore gives the same records, whatever ran before, and a re-run
over unchanged rows writes nothing. A source whose rows live in this database (the local one) is read
inside that statement; any other source's groups are copied in first.

Why this shape (bench/cost_aggregation.py: 10 M export rows, 450,000 records, target 1 M rows/s):
PostgreSQL 15 runs the SELECT of a CREATE TABLE AS with parallel workers, never that of an INSERT …
SELECT, an UPDATE or a DELETE. So every join the run needs (labels, the records there are) is made
once, in the statement that reads the export; the writes join nothing but the temporary table, by the
records' ids, and are skipped when they have nothing to do. The single INSERT … ON CONFLICT … DO UPDATE
this replaced joined tenants and sites again in a serial statement and tried every group, changed or
not: 36 s on a first run and 24 s on re-runs, against 12 s and 7 s this way (same machine, similar load).
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
        %(start)s to %(end)s, one row per (tenant_label, site_label, service, day, currency), run by
        the platform's own database."""
        ...


@dataclass(frozen=True)
class AggregationResult:
    start: date
    end: date
    groups: int
    deleted: int


_RECORDS = CostRecord._meta.db_table
_DAILY_TABLE = "billing_daily_groups"
# What a source outside the database answers is copied here first (then read like a local source's
# SELECT): COPY needs a table.
_COPIED_TABLE = "billing_copied_groups"
_CREATE_COPIED = f"""
CREATE TEMPORARY TABLE {_COPIED_TABLE} (
    tenant_label text NOT NULL, site_label text NOT NULL, service text NOT NULL, day date NOT NULL,
    currency text NOT NULL, gross numeric NOT NULL, credits numeric NOT NULL
) ON COMMIT DROP
"""
# Summed again: nothing promises that another source's groups are one per key.
_COPIED_SELECT = f"""
SELECT tenant_label, site_label, service, day, currency, SUM(gross) AS gross, SUM(credits) AS credits
FROM {_COPIED_TABLE} GROUP BY tenant_label, site_label, service, day, currency
"""
# The labels that name a tenant, and a site of it, and what they name. Labels are the ids as text
# (sites.runtimes.cloudrun.names): compared as text, anything else (a label of no tenant, not a number
# at all) matches nothing and stays unattributed. Small tables of their own, analysed, so that the
# planner hashes them (an expression such as id::text has no statistics, and misled it into hashing
# the 450,000 groups instead).
_TENANTS_TABLE = "billing_tenant_labels"
_SITES_TABLE = "billing_site_labels"
_LOOKUPS = (
    f"CREATE TEMPORARY TABLE {_TENANTS_TABLE} ON COMMIT DROP AS "
    f"SELECT id::text AS tenant_label, id AS tenant_id FROM {Tenant._meta.db_table}",
    # The inventory does not promise one row per (tenant, site id): one name per site, as before.
    f"CREATE TEMPORARY TABLE {_SITES_TABLE} ON COMMIT DROP AS "
    f"SELECT tenant_id::text AS tenant_label, site_id::text AS site_label, MAX(slug) AS slug "
    f"FROM {SiteRecord._meta.db_table} GROUP BY tenant_id, site_id",
    f"ANALYZE {_TENANTS_TABLE}",
    f"ANALYZE {_SITES_TABLE}",
)
_AI_USAGE = f"""
SELECT tenant_id::text AS tenant_label, ''::text AS site_label, %(service)s::text AS service,
       (created_at AT TIME ZONE 'UTC')::date AS day, currency, SUM(cost) AS gross
FROM {AiUsage._meta.db_table}
WHERE tenant_id IS NOT NULL AND created_at >= %(start)s::date AND created_at < %(end)s::date + 1
GROUP BY 1, 4, 5
"""
# Every group of the run and every record of the range, side by side (a full join), and what to do
# with each: 'insert' a group without a record, 'update' a record whose group changed it, 'delete' a
# record without a group (a corrected export withdrew its rows); NULL: unchanged, nothing to write.
# {source} is a SELECT of one row per key (InDatabaseSource). The assistant's lines join it by a full
# join rather than a second GROUP BY: the few keys both have (an export that names a service like the
# assistant's, on a tenant's own line) are added together, as one record.
_GROUPS = f"""
CREATE TEMPORARY TABLE {_DAILY_TABLE} ON COMMIT DROP AS
SELECT CASE WHEN k.day IS NULL THEN 'delete'
            WHEN c.id IS NULL THEN 'insert'
            -- tenant_id is compared too: see _UPDATE.
            WHEN (c.tenant_id, c.gross, c.credits) IS DISTINCT FROM (t.tenant_id, k.gross, k.credits)
              OR (COALESCE(s.slug, '') <> '' AND s.slug <> c.site_slug) THEN 'update'
       END AS action,
       c.id AS record_id, t.tenant_id, k.tenant_label, k.site_label,
       -- A deleted site's inventory row is gone: its records keep the name it had.
       CASE WHEN COALESCE(s.slug, '') <> '' THEN s.slug ELSE COALESCE(c.site_slug, '') END AS site_slug,
       k.service, k.day, k.currency, k.gross, k.credits
FROM (
    SELECT COALESCE(g.tenant_label, a.tenant_label) AS tenant_label,
           COALESCE(g.site_label, a.site_label) AS site_label, COALESCE(g.service, a.service) AS service,
           COALESCE(g.day, a.day) AS day, COALESCE(g.currency, a.currency) AS currency,
           ROUND(COALESCE(g.gross, 0) + COALESCE(a.gross, 0), 6) AS gross, ROUND(COALESCE(g.credits, 0), 6) AS credits
    FROM ({{source}}) g
    FULL JOIN ({_AI_USAGE}) a ON a.tenant_label = g.tenant_label AND a.site_label = g.site_label
        AND a.service = g.service AND a.day = g.day AND a.currency = g.currency
) k
LEFT JOIN {_TENANTS_TABLE} t ON t.tenant_label = k.tenant_label
LEFT JOIN {_SITES_TABLE} s ON s.tenant_label = k.tenant_label AND s.site_label = k.site_label
FULL JOIN (SELECT * FROM {_RECORDS} WHERE day BETWEEN %(start)s AND %(end)s) c
    ON c.tenant_label = k.tenant_label AND c.site_label = k.site_label AND c.service = k.service
    AND c.day = k.day AND c.currency = k.currency
"""
_TUNING = (
    # One big GROUP BY per run: no JIT (it costs seconds to compile here), memory for its sorts and
    # hashes, and parallel workers even when the planner overestimates the number of groups.
    "SET LOCAL jit = off",
    "SET LOCAL work_mem = '256MB'",
    "SET LOCAL parallel_tuple_cost = 0.01",
    # The workers' partial groups arrive in the index's order and are nearly final already: merging
    # them (Gather Merge, a streaming aggregate) is cheaper than hashing 450,000 groups again, and
    # the planner, which expects twice as many groups, would hash.
    "SET LOCAL enable_hashagg = off",
)
# One pass, no GROUP BY (which would sort: hash aggregation is off).
_COUNT = f"""
SELECT count(*) FILTER (WHERE action = 'delete'), count(*) FILTER (WHERE action = 'update'),
       count(*) FILTER (WHERE action = 'insert'), count(*) FILTER (WHERE action IS DISTINCT FROM 'delete')
FROM {_DAILY_TABLE}
"""
_DELETE = f"""
DELETE FROM {_RECORDS} c USING {_DAILY_TABLE} d WHERE d.action = 'delete' AND c.id = d.record_id
"""
# tenant_id is part of the comparison that makes a record 'update': a tenant created since the last
# run (its label was unattributed), or deleted since (Django deletes its records; one deleted while a
# run was writing leaves that run's records with its id, there being no foreign key in the database)
# is put right by the next run.
_UPDATE = f"""
UPDATE {_RECORDS} c SET tenant_id = d.tenant_id, site_slug = d.site_slug, gross = d.gross,
    credits = d.credits, net = d.gross + d.credits, updated_at = %(stamp)s
FROM {_DAILY_TABLE} d WHERE d.action = 'update' AND c.id = d.record_id
"""
_INSERT = f"""
INSERT INTO {_RECORDS}
    (tenant_id, tenant_label, site_label, site_slug, service, day, currency, gross, credits, net, updated_at)
SELECT tenant_id, tenant_label, site_label, site_slug, service, day, currency, gross, credits,
       gross + credits, %(stamp)s
FROM {_DAILY_TABLE} WHERE action = 'insert'
"""


def groups_statement(source_sql: str) -> str:
    """The statement that reads the groups of `source_sql` (an InDatabaseSource's SELECT) into the
    run's temporary table, as costs_aggregate runs it (bench/cost_aggregation.py explains it)."""
    return _GROUPS.replace("{source}", source_sql)


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
        tables = (_DAILY_TABLE, _COPIED_TABLE, _TENANTS_TABLE, _SITES_TABLE)
        cursor.execute("DROP TABLE IF EXISTS " + ", ".join(f"pg_temp.{table}" for table in tables))
        for setting in _TUNING:
            cursor.execute(setting)
        if groups is None:
            select = source.daily_costs_sql()  # type: ignore[attr-defined]  # InDatabaseSource, checked above
        else:
            cursor.execute(_CREATE_COPIED)
            raw: Any = cursor.cursor  # psycopg 3's own cursor under Django's wrapper: it can COPY
            with raw.copy(f"COPY {_COPIED_TABLE} FROM STDIN") as copy:
                for group in groups:
                    labels = (group.tenant_label, group.site_label)
                    copy.write_row((*labels, group.service, group.day, group.currency, group.gross, group.credits))
            select = _COPIED_SELECT
        for statement in _LOOKUPS:
            cursor.execute(statement)
        # CREATE TABLE AS may run its SELECT in parallel; INSERT … SELECT may not (PostgreSQL 15).
        cursor.execute(groups_statement(select), params)
        cursor.execute(_COUNT)
        deleted, updated, inserted, written = cursor.fetchone()
        # Each statement only when it has something to do: on a re-run over the same rows, none has.
        for count, statement in ((deleted, _DELETE), (updated, _UPDATE), (inserted, _INSERT)):
            if count:
                cursor.execute(statement, params)
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
