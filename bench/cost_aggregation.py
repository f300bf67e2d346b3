"""Billing-export rows to daily cost records, and the billing API over a year of those records.

    .venv/bin/python bench/cost_aggregation.py [--rows 10000000] [--requests 200] [--quick] [--keep] [--reuse]

1. Generates `--rows` export rows inside PostgreSQL (INSERT … SELECT … FROM generate_series, one
   statement per core), in Google Cloud's shape with every column filled and the derived columns
   consistent with the labels and credits: 500 tenants, 2,000 sites (2 to 32 per tenant), 6 services
   with 15 SKUs, hourly usage over the 30 days that end yesterday (UTC), 3% of rows with no tenant
   label (shared infrastructure), 4% with a tenant but no site label, 1% with a credit, 5% of tenants
   billed in EUR. Tenants and sites are plain rows of their tables (the aggregation joins on their
   ids only); those tenants have no schemas. The indexes are built after the load, as a bulk load
   would, then the table is vacuumed and analysed as autovacuum would leave it.
2. Runs `costs_aggregate` over the 30 days three times: the first writes every record, the 2nd and
   3rd compare every group with its record and find nothing to write (back to back, no VACUUM
   between; a CHECKPOINT before each, as an hour would have flushed the previous run's writes). Each
   statement is timed. Then EXPLAIN (ANALYZE, BUFFERS) of the GROUP BY alone and as the aggregation
   runs it (CREATE TEMPORARY TABLE … AS, with its joins).
3. Creates one real tenant (tenant_create, tenant_provision) with the cost records of 20 sites × 4
   services plus the assistant over 365 days, an API key of the billing role, and times
   GET /api/v1/tenants/{slug}/billing for that year with each group_by, sequentially over one
   keep-alive connection, under uvicorn (one process, DEBUG off), as bench/api_throughput.py serves it.
   The cost records are vacuumed first (autovacuum would have; it is off on the bench's server).

Targets: aggregation at least 1,000,000 rows per second; billing API p95 at most 100 ms.
The machine's load average is printed with each phase: other work on it skews the figures.
The database (aipress_bench_costs) is dropped at the end unless --keep; --reuse takes a kept one
holding as many rows instead of generating them again (its records of the 30 days are deleted first).
"""

import argparse
import atexit
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from _setup import ROOT, bench_database_url, django_on, fresh_database, percentile
from api_throughput import free_port, stop, wait_listening

DB_NAME = "aipress_bench_costs"
TARGET_ROWS_PER_SECOND = 1_000_000
TARGET_P95_MS = 100.0
DAYS = 30
TENANTS = 500
SITES = 2_000
API_TENANT = "bench-billing"
API_SITES = 20
API_DAYS = 365
GROUP_BYS = ("day", "month", "site", "service")

# Services of Google Cloud as its export names them, with SKUs: (SKU id, SKU, unit, price per unit,
# typical units per hour).
SERVICES: dict[tuple[str, str, str], list[tuple[str, str, str, str, str]]] = {
    ("152E-C115-5142", "Cloud Run", "cloudrun"): [
        ("8C3B-4C1B-5B6B", "CPU Allocation Time", "seconds", "0.000024", "1800"),
        ("F449-33EC-A5EF", "Memory Allocation Time", "byte-seconds", "0.0000000000023283", "900000000000"),
        ("9A24-B2A7-1C6A", "Requests", "requests", "0.0000004", "20000"),
    ],
    ("9662-B51E-5089", "Cloud SQL", "cloudsql"): [
        ("C4A1-F4D9-6F7B", "DB custom CORE", "hour", "0.0413", "1"),
        ("9AB4-4E8C-B3E5", "DB custom RAM", "gibibyte hour", "0.007", "3.75"),
        ("7B2D-9F31-A8C0", "Storage PD SSD", "gibibyte month", "0.17", "0.0139"),
    ],
    ("95FF-2EF5-5EA1", "Cloud Storage", "storage"): [
        ("E5F0-6A5D-7BAD", "Standard Storage US Multi-region", "gibibyte month", "0.026", "0.02"),
        ("1A3A-6B2F-4C3D", "Multi-Region Standard Class A Operations", "requests", "0.00001", "400"),
        ("3B8A-7C1E-9D2F", "Multi-Region Standard Class B Operations", "requests", "0.0000004", "5000"),
    ],
    ("E505-1604-58F8", "Networking", "networking"): [
        ("9DE9-9092-B3BC", "Network Internet Egress from Americas to Americas", "gibibyte", "0.085", "0.4"),
        ("2F8A-5C3D-1E9B", "Cloud Load Balancer Forwarding Rule Minimum", "hour", "0.025", "1"),
    ],
    ("5490-F7B7-8DF6", "Cloud Logging", "logging"): [
        ("143F-A1B0-E0BE", "Log Storage cost", "gibibyte", "0.5", "0.002"),
        ("5C2A-8E3F-0B1D", "Log Retention cost", "gibibyte month", "0.01", "0.05"),
    ],
    ("EE82-7A5E-871C", "Secret Manager", "secretmanager"): [
        ("E9F7-2E3B-6A1C", "Secret version replica storage", "count", "0.00008", "3"),
        ("8A4C-1D2E-3F5B", "Access operations", "count", "0.000003", "120"),
    ],
}
SKUS = [(*service, *sku) for service, skus in SERVICES.items() for sku in skus]
ACCOUNT_USD = "01A2B3-C4D5E6-F7A8B9"
ACCOUNT_EUR = "01E2U3-R4O5P6-A7B8C9"

# Helper tables of the generator (dropped after it): sites with their labels precomputed, and SKUs.
_GEN_SETUP = f"""
DROP TABLE IF EXISTS bench_gen_site, bench_gen_sku;
INSERT INTO tenants_tenant (schema_name, slug, name, status, suspended_reason, max_sites, max_members,
    provision_attempts, last_error, created_at, activated_at, max_api_keys, ai_monthly_tokens)
SELECT 'bench_load_' || g, 'load-' || g, 'Load tenant ' || g, 'active', '', 50, 25, 0, '', now(), now(), 20, 2000000
FROM generate_series(1, {TENANTS}) g;
CREATE UNLOGGED TABLE bench_gen_site AS
WITH tenant AS (
    SELECT (row_number() OVER (ORDER BY id) - 1)::int AS idx, id FROM tenants_tenant WHERE slug LIKE 'load-%'
), site AS (
    -- Site s belongs to tenant floor(500 (s/2000)^1.5): 32 sites for the biggest, 2 for the smallest.
    SELECT s, t.id AS tenant_id, t.idx AS tenant_idx,
           row_number() OVER (PARTITION BY t.id ORDER BY s) AS site_id
    FROM generate_series(0, {SITES - 1}) s
    JOIN tenant t ON t.idx = floor({TENANTS} * power(s / {SITES}.0, 1.5))::int
)
SELECT s, tenant_id, site_id, tenant_id::text AS tenant_label, site_id::text AS site_label,
       CASE WHEN tenant_idx % 20 = 7 THEN 'EUR' ELSE 'USD' END AS currency,
       CASE WHEN tenant_idx % 20 = 7 THEN '{ACCOUNT_EUR}' ELSE '{ACCOUNT_USD}' END AS account,
       jsonb_build_array(jsonb_build_object('key', 'aipress-tenant-id', 'value', tenant_id::text),
                         jsonb_build_object('key', 'aipress-managed', 'value', 'true')) AS labels_tenant,
       jsonb_build_array(jsonb_build_object('key', 'aipress-tenant-id', 'value', tenant_id::text),
                         jsonb_build_object('key', 'aipress-site-id', 'value', site_id::text),
                         jsonb_build_object('key', 'aipress-managed', 'value', 'true')) AS labels_site
FROM site;
INSERT INTO site_inventory_siterecord (site_id, slug, status, runtime, hostname, created_at, updated_at, tenant_id)
SELECT site_id, 'site-' || site_id, 'running', 'cloudrun',
       'site-' || site_id || '--load-t' || tenant_id || '.sites.example.com', now(), now(), tenant_id
FROM bench_gen_site;
CREATE UNLOGGED TABLE bench_gen_sku (
    j int, service_id text, service_description text, sku_id text, sku_description text, unit text,
    price numeric, scale numeric, labels_shared jsonb
);
"""
_GEN_SKU = "INSERT INTO bench_gen_sku VALUES (%s, %s, %s, %s, %s, %s, %s::numeric, %s::numeric, %s::jsonb)"
# Row i: hour i / per_hour of the 30 days; within the hour, combination c of (site, SKU) is a stride
# permutation of the 2,000 × 15, so each hour bills a different subset and no (site, SKU, hour) repeats.
_GEN_ROWS = f"""
INSERT INTO billing_exportrow (billing_account_id, service_id, service_description, sku_id, sku_description,
    usage_start_time, usage_end_time, project_id, labels, cost, currency, credits, usage_amount, usage_unit,
    invoice_month, export_time, row_key, tenant_label, site_label, credits_total, usage_date)
SELECT CASE WHEN r.kind = 0 THEN '{ACCOUNT_USD}' ELSE s.account END,
       k.service_id, k.service_description, k.sku_id, k.sku_description,
       r.t0, r.t0 + interval '1 hour',
       CASE WHEN r.kind = 0 THEN 'aipress-platform' ELSE 'aipress-prod' END,
       CASE r.kind WHEN 0 THEN k.labels_shared WHEN 1 THEN s.labels_tenant ELSE s.labels_site END,
       round(r.amount * k.price, 9),
       CASE WHEN r.kind = 0 THEN 'USD' ELSE s.currency END,
       CASE WHEN r.credit THEN jsonb_build_array(jsonb_build_object(
           'name', 'Free tier', 'amount', -round(r.amount * k.price / 2, 6), 'type', 'FREE_TIER'))
            ELSE '[]'::jsonb END,
       r.amount, k.unit, to_char(r.t0 AT TIME ZONE 'UTC', 'YYYYMM'), r.t0 + interval '5 hours',
       'file:' || encode(sha256(int8send(r.i)), 'hex'),
       CASE WHEN r.kind = 0 THEN '' ELSE s.tenant_label END,
       CASE WHEN r.kind = 2 THEN s.site_label ELSE '' END,
       CASE WHEN r.credit THEN -round(r.amount * k.price / 2, 6) ELSE 0 END,
       (r.t0 AT TIME ZONE 'UTC')::date
FROM (
    SELECT i, %(first)s::timestamptz + (i / %(per_hour)s) * interval '1 hour' AS t0,
           ((i %% %(per_hour)s) * 7919 + (i / %(per_hour)s) * 104729) %% {SITES * len(SKUS)} AS c,
           CASE WHEN random() < 0.03 THEN 0 WHEN random() < 0.04 / 0.97 THEN 1 ELSE 2 END AS kind,
           random() < 0.01 AS credit,
           round((0.2 + 1.6 * random())::numeric, 6) AS spread
    FROM generate_series(%(low)s::bigint, %(high)s::bigint - 1) i
) g
JOIN bench_gen_site s ON s.s = g.c %% {SITES}
JOIN bench_gen_sku k ON k.j = g.c / {SITES}
CROSS JOIN LATERAL (SELECT g.i, g.t0, g.kind, g.credit, round(k.scale * g.spread, 6) AS amount) r
"""


def say(message: str = "") -> None:
    print(message, flush=True)


def load_average() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.2f} (1 min), {five:.2f} (5 min)"


def admin_url(url: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/postgres"))


def drop_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')


def kept_rows(url: str) -> int | None:
    """The export rows of a kept database, or None when there is none."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            return None
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT count(*) FROM billing_exportrow").fetchone()
    return int(found[0]) if found else 0


def maintenance(url: str, *statements: str) -> None:
    """VACUUM, CHECKPOINT and the like, outside any transaction, on a connection of their own."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


# --- 1. Generation -------------------------------------------------------------------------------


@dataclass
class Generated:
    first_day: date
    last_day: date
    seconds: dict[str, float] = field(default_factory=dict)


def export_days() -> tuple[date, date]:
    last = datetime.now(UTC).date() - timedelta(days=1)
    return last - timedelta(days=DAYS - 1), last


def generate(url: str, rows: int) -> Generated:
    """The export rows, their tenants and sites, in the database at `url` (empty, migrated)."""
    import psycopg

    first_day, last_day = export_days()
    result = Generated(first_day=first_day, last_day=last_day)
    hours = DAYS * 24
    per_hour = -(-rows // hours)
    if per_hour > SITES * len(SKUS):
        raise SystemExit(f"--rows at most {SITES * len(SKUS) * hours:,}: one row per site, SKU and hour")
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(_GEN_SETUP)
        with conn.cursor() as cursor:
            cursor.executemany(
                _GEN_SKU,
                [
                    (j, sid, service, *sku, json.dumps([{"key": "goog-managed-by", "value": managed_by}]))
                    for j, (sid, service, managed_by, *sku) in enumerate(SKUS)
                ],
            )
        conn.execute("ANALYZE bench_gen_site; ANALYZE bench_gen_sku")
        # The row key's unique constraint and the other indexes are built after the load.
        constraints = conn.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = 'billing_exportrow'::regclass AND contype = 'u'"
        ).fetchall()
        for name, _ in constraints:
            conn.execute(f'ALTER TABLE billing_exportrow DROP CONSTRAINT "{name}"')
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
            "AND tablename = 'billing_exportrow' AND indexname <> 'billing_exportrow_pkey'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
    result.seconds["tenants, sites"] = time.perf_counter() - started

    started = time.perf_counter()
    workers = max(1, os.cpu_count() or 1)
    bounds = [rows * n // workers for n in range(workers + 1)]
    errors: list[psycopg.Error] = []

    def load(low: int, high: int, seed: float) -> None:
        params = {"first": datetime.combine(first_day, datetime.min.time(), UTC), "per_hour": per_hour}
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("SELECT setseed(%s)", [seed])
                conn.execute(_GEN_ROWS, {**params, "low": low, "high": high})
        except psycopg.Error as exc:  # reported by the main thread
            errors.append(exc)

    seeds = [0.1 + n / (workers + 1) for n in range(workers)]
    threads = [threading.Thread(target=load, args=(bounds[n], bounds[n + 1], seeds[n])) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    result.seconds[f"export rows ({workers} connections)"] = time.perf_counter() - started

    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '1GB'")
        for _, definition in indexes:
            conn.execute(definition)
        for name, definition in constraints:
            conn.execute(f'ALTER TABLE billing_exportrow ADD CONSTRAINT "{name}" {definition}')
        conn.execute("DROP TABLE bench_gen_site, bench_gen_sku")
    result.seconds["indexes"] = time.perf_counter() - started

    started = time.perf_counter()
    maintenance(
        url,
        "VACUUM (ANALYZE) billing_exportrow",
        "VACUUM (ANALYZE) tenants_tenant",
        "VACUUM (ANALYZE) site_inventory_siterecord",
        "CHECKPOINT",
    )
    result.seconds["vacuum, analyze, checkpoint"] = time.perf_counter() - started
    return result


def describe_export() -> dict[str, Any]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT count(*), min(usage_date), max(usage_date),
                   count(DISTINCT tenant_label) FILTER (WHERE tenant_label <> ''),
                   count(DISTINCT (tenant_label, site_label)) FILTER (WHERE site_label <> ''),
                   count(DISTINCT service_description), count(DISTINCT sku_id),
                   avg((tenant_label = '')::int), avg((tenant_label <> '' AND site_label = '')::int),
                   avg((credits_total <> 0)::int), avg((currency = 'EUR')::int),
                   pg_size_pretty(pg_total_relation_size('billing_exportrow')),
                   pg_size_pretty(pg_relation_size('billing_exportrow'))
            FROM billing_exportrow
            """
        )
        row = cursor.fetchone()
    keys = [
        "rows", "first_day", "last_day", "tenants", "sites", "services", "skus", "no_tenant", "no_site",
        "credits", "eur", "total_size", "heap_size",
    ]  # fmt: skip
    return dict(zip(keys, row, strict=True))


def check_consistency() -> int:
    """A random sample of rows, and rows with credits: the derived columns say what the labels,
    credits and start time say, as billing.exports derives them. Answers how many were checked."""
    import random

    from billing.exports import credits_total, label_value
    from billing.models import ExportRow
    from billing.sources.base import SITE_LABEL, TENANT_LABEL

    top = ExportRow.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    picked = random.sample(range(1, top + 1), min(top, 1000))
    sample = list(ExportRow.objects.filter(pk__in=picked)) + list(ExportRow.objects.exclude(credits=[])[:200])
    for row in sample:
        assert row.tenant_label == label_value(row.labels, TENANT_LABEL), row.pk
        assert row.site_label == label_value(row.labels, SITE_LABEL), row.pk
        assert row.credits_total == credits_total(row.credits), row.pk
        assert row.usage_date == row.usage_start_time.astimezone(UTC).date(), row.pk
        assert row.invoice_month == f"{row.usage_start_time.astimezone(UTC):%Y%m}", row.pk
        assert row.cost > 0 and len(row.row_key) == 69, row.pk
    return len(sample)


def report_generation(rows: int, generated: Generated | None, describe: dict[str, Any], checked: int) -> None:
    if generated is not None:
        say("\nGeneration (not part of the measurement)")
        for step, seconds in generated.seconds.items():
            say(f"  {step:<32} {seconds:>8.1f} s")
        loading = next(seconds for step, seconds in generated.seconds.items() if step.startswith("export rows"))
        say(f"  {'total':<32} {sum(generated.seconds.values()):>8.1f} s  ({rows / loading:,.0f} rows/s inserted)")
    say(
        f"\nExport: {describe['rows']:,} rows, {describe['first_day']} .. {describe['last_day']}, "
        f"{describe['tenants']} tenants, {describe['sites']} sites, {describe['services']} services / "
        f"{describe['skus']} SKUs; no tenant label {describe['no_tenant']:.1%}, tenant but no site "
        f"{describe['no_site']:.1%}, with credits {describe['credits']:.1%}, EUR {describe['eur']:.1%}"
    )
    say(
        f"table {describe['heap_size']} ({describe['total_size']} with indexes); derived columns checked on "
        f"{checked:,} rows"
    )


# --- 2. Aggregation ------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    written: int
    deleted: int
    dead_before: int
    statements: list[tuple[str, float, int]]


_STATEMENTS = (
    ('SELECT MAX("billing_exportrow"."usage_end_time")', "latest_usage(): MAX(usage_end_time)"),
    ("SELECT pg_advisory_xact_lock", "advisory lock"),
    ("DROP TABLE IF EXISTS pg_temp", "drop temp tables"),
    ("SET LOCAL", "SET LOCAL (settings)"),
    ("CREATE TEMPORARY TABLE billing_tenant_labels", "tenant and site labels → temp"),
    ("CREATE TEMPORARY TABLE billing_site_labels", "tenant and site labels → temp"),
    ("ANALYZE billing_", "tenant and site labels → temp"),
    ("CREATE TEMPORARY TABLE billing_daily_groups", "GROUP BY, joins → temp"),
    ("SELECT count(*) FILTER", "count actions in temp"),
    ("DELETE FROM billing_costrecord", "DELETE stale records"),
    ("UPDATE billing_costrecord", "UPDATE changed records"),
    ("INSERT INTO billing_costrecord", "INSERT new records"),
    ('INSERT INTO "billing_aggregationrun"', "AggregationRun row"),
)


def statement_name(sql: str) -> str:
    words = " ".join(sql.split())
    return next((name for prefix, name in _STATEMENTS if words.startswith(prefix)), words[:36])


@contextmanager
def timed_statements() -> Iterator[list[tuple[str, float, int]]]:
    """Every statement Django runs meanwhile: (name, seconds, rowcount)."""
    from django.db import connection

    timings: list[tuple[str, float, int]] = []

    def wrapper(execute: Callable[..., Any], sql: str, params: Any, many: bool, context: dict[str, Any]) -> Any:
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            cursor = context.get("cursor")
            count = getattr(cursor, "rowcount", -1) if cursor is not None else -1
            if not sql.startswith(("SET search_path", "SAVEPOINT", "RELEASE SAVEPOINT")):
                timings.append((statement_name(sql), time.perf_counter() - started, count))

    with connection.execute_wrapper(wrapper):
        yield timings


def dead_records() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT n_dead_tup FROM pg_stat_user_tables WHERE relname = 'billing_costrecord'")
        found = cursor.fetchone()
    return int(found[0]) if found else 0


def aggregate_once(url: str, first_day: date, last_day: date) -> Run:
    from django.db import connection

    from billing.aggregation import costs_aggregate
    from billing.sources.local import LocalSource

    # The scheduled run comes an hour after the last: what the last one wrote is on disk by then.
    maintenance(url, "CHECKPOINT")
    dead = dead_records()
    connection.close()  # each run starts like a scheduled task: on a new connection
    with timed_statements() as timings:
        started = time.perf_counter()
        result = costs_aggregate(start=first_day, end=last_day, source=LocalSource())
        seconds = time.perf_counter() - started
    return Run(seconds=seconds, written=result.groups, deleted=result.deleted, dead_before=dead, statements=timings)


def explain(sql: str, params: dict[str, Any], *, insert: bool) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the daily GROUP BY, alone or as the aggregation runs it (with its
    joins, into its temporary table), in a transaction rolled back."""
    from django.db import connection, transaction

    from billing import aggregation

    with transaction.atomic(), connection.cursor() as cursor:
        if insert:
            # As costs_aggregate runs it: its settings, its lookups of labels, then CREATE TABLE AS
            # (which may run in parallel) of the groups joined with tenants, sites and records.
            tables = (aggregation._DAILY_TABLE, aggregation._TENANTS_TABLE, aggregation._SITES_TABLE)
            cursor.execute("DROP TABLE IF EXISTS " + ", ".join(f"pg_temp.{table}" for table in tables))
            for statement in (*aggregation._TUNING, *aggregation._LOOKUPS):
                cursor.execute(statement)
            sql = aggregation.groups_statement(sql)
            params = {**params, "service": aggregation.AI_SERVICE}
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        lines = [row[0] for row in cursor.fetchall()]
        transaction.set_rollback(True)
    return lines


def plan_summary(lines: list[str]) -> list[str]:
    """The plan's nodes, with what says whether it went parallel, spilled or compiled."""
    keep = (
        "->", "Workers", "Batches", "Disk Usage", "Sort Method", "Buffers", "Planned Partitions", "Planning Time",
        "Execution Time", "Timing:",
    )  # fmt: skip
    return [line for n, line in enumerate(lines) if n == 0 or line.strip().startswith(keep)]


def plan_verdict(lines: list[str]) -> str:
    text = "\n".join(lines)
    launched = [int(line.split(":")[1]) for line in lines if "Workers Launched:" in line]
    nodes = [node for line in lines for node in re.findall(r"(?:Partial |Finalize )?[A-Za-z]*Aggregate\b", line)]
    strategy = " → ".join(reversed(nodes)) or "no aggregate node"
    spilled = "Disk Usage" in text or "external merge" in text
    total = next((line.split(":")[1].strip() for line in lines if line.startswith("Execution Time")), "?")
    parallel = f"parallel, {max(launched)} workers launched" if launched else "NOT parallel"
    return f"{parallel}; {strategy}; {'spilled to disk' if spilled else 'in memory'}; {total}"


def pg_settings() -> str:
    from django.db import connection

    names = [
        "work_mem", "hash_mem_multiplier", "max_parallel_workers_per_gather", "shared_buffers", "jit",
        "autovacuum", "max_wal_size",
    ]  # fmt: skip
    with connection.cursor() as cursor:
        values = []
        for name in names:
            cursor.execute(f"SHOW {name}")
            values.append(f"{name}={cursor.fetchone()[0]}")
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
    return f"{version}, {os.cpu_count()} cores; " + ", ".join(values)


def measure_aggregation(url: str, rows: int, first_day: date, last_day: date) -> None:
    say(f"\nAggregation: costs_aggregate(start={first_day}, end={last_day}, source=LocalSource()); {load_average()}")
    say(pg_settings())
    runs = [aggregate_once(url, first_day, last_day) for _ in range(3)]
    say(f"\n{'run':>4} {'rows':>12} {'seconds':>8} {'rows/s':>12} {'records written':>16} {'deleted':>8}")
    for number, run in enumerate(runs, start=1):
        kind = "first: no records yet" if number == 1 else "re-run: writes only what changed"
        say(
            f"{number:>4} {rows:>12,} {run.seconds:>8.2f} {rows / run.seconds:>12,.0f} {run.written:>16,} "
            f"{run.deleted:>8}  ({kind}; {run.dead_before:,} dead records before)"
        )
    say("\nWhere the time goes (seconds per statement; rows as the statement reported them in run 1):")
    say(f"  {'statement':<38} " + " ".join(f"{'run ' + str(n):>8}" for n in range(1, 4)) + f" {'rows':>10}")
    # By name: a run skips the writes it has nothing for (a re-run over the same rows writes none).
    names = list(dict.fromkeys(name for run in runs for name, _, _ in run.statements))
    for name in names:
        cells = " ".join(
            f"{sum(seconds for n, seconds, _ in run.statements if n == name):>8.2f}"
            if any(n == name for n, _, _ in run.statements)
            else f"{'-':>8}"
            for run in runs
        )
        counts = [count for n, _, count in runs[0].statements if n == name and count >= 0]
        say(f"  {name:<38} {cells} {sum(counts) if counts else '':>10}")
    rest = " ".join(f"{run.seconds - sum(s for _, s, _ in run.statements):>8.2f}" for run in runs)
    say(f"  {'COMMIT, Python':<38} {rest}")
    rates = [rows / run.seconds for run in runs]
    say(
        f"\nrows/s: first run {rates[0]:,.0f} = {rates[0] / TARGET_ROWS_PER_SECOND:.2f}x, re-runs "
        f"{rates[1]:,.0f} = {rates[1] / TARGET_ROWS_PER_SECOND:.2f}x and {rates[2]:,.0f} = "
        f"{rates[2] / TARGET_ROWS_PER_SECOND:.2f}x the target of {TARGET_ROWS_PER_SECOND:,}  -> target "
        f"{'met' if min(rates) >= TARGET_ROWS_PER_SECOND else 'NOT met'}"
    )

    from billing.sources.local import LocalSource

    params = {"start": first_day, "end": last_day}
    for title, insert in (
        ("the GROUP BY alone (SELECT)", False),
        ("the GROUP BY as costs_aggregate runs it (CREATE TEMPORARY TABLE … AS SELECT …, joins, settings)", True),
    ):
        lines = explain(LocalSource().daily_costs_sql(), params, insert=insert)
        say(f"\nEXPLAIN (ANALYZE, BUFFERS) of {title}:\n  -> {plan_verdict(lines)}")
        for line in plan_summary(lines):
            say(f"  {line}")


# --- 3. Billing API ------------------------------------------------------------------------------


def api_tenant(last_day: date) -> tuple[Any, str]:
    """The tenant the API is timed on, made the normal way, with a year of cost records and a key."""
    from django.db import connection

    from billing.models import CostRecord
    from tenants import services
    from tenants.audit import Actor
    from tenants.models import ApiKey, Role, Tenant, User

    tenant = Tenant.objects.filter(slug=API_TENANT).first()
    if tenant is None:
        owner = User.objects.create_user(email="bench-billing@example.com")
        tenant = services.tenant_create(actor=Actor.system("bench"), slug=API_TENANT, name="Bench Billing", owner=owner)
        services.tenant_provision(tenant_id=tenant.pk)
        tenant.refresh_from_db()
    owner = tenant.memberships.get(role=Role.OWNER).user
    ApiKey.objects.filter(tenant=tenant).delete()  # a kept database: earlier runs' keys
    _, key = services.api_key_create(actor=Actor.of_user(owner), tenant=tenant, name="bench", role=Role.BILLING)

    CostRecord.objects.filter(tenant=tenant).delete()
    with connection.cursor() as cursor:
        # 20 sites × 4 services a day, and the assistant's cost of the tenant (no site label), as the
        # aggregation writes them.
        cursor.execute(
            """
            INSERT INTO billing_costrecord (tenant_id, tenant_label, site_label, site_slug, service, day, currency,
                                            gross, credits, net, updated_at)
            SELECT %(tenant)s, %(tenant)s::text, COALESCE(site::text, ''), COALESCE('site-' || site, ''), service,
                   day, 'USD', gross, credits, gross + credits, now()
            FROM (
                SELECT site, service, day::date AS day, round((0.05 + random() * 3)::numeric, 6) AS gross,
                       CASE WHEN random() < 0.05 THEN -round((random() * 0.05)::numeric, 6) ELSE 0 END AS credits
                FROM generate_series(1, %(sites)s) site, unnest(%(services)s::text[]) service,
                     generate_series(%(first)s::date, %(last)s::date, interval '1 day') day
                UNION ALL
                SELECT NULL, 'AIPress assistant', day::date, round((random() * 0.5)::numeric, 6), 0
                FROM generate_series(%(first)s::date, %(last)s::date, interval '1 day') day
            ) r
            """,
            {
                "tenant": tenant.pk,
                "sites": API_SITES,
                "services": ["Cloud Run", "Cloud SQL", "Cloud Storage", "Networking"],
                "first": last_day - timedelta(days=API_DAYS - 1),
                "last": last_day,
            },
        )
    return tenant, key


@dataclass
class Timing:
    group_by: str
    times_ms: list[float]
    rows: int
    bytes: int
    totals: dict[str, Any]


def time_api(*, url: str, tenant: Any, key: str, first_day: date, last_day: date, requests: int) -> list[Timing]:
    """Sequential GETs over one keep-alive connection to uvicorn (one process), 10 warm-up ones first."""
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "API_THROTTLE_RATE": "100000000/min",  # measure the endpoint, not the throttle's refusal
        "API_TENANT_THROTTLE_RATE": "100000000/min",
        "PYTHONPATH": str(ROOT),
    }
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "aipress.asgi:application", "--host", "127.0.0.1", "--port", str(port),
        "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    headers = {"Host": tenant.host, "Authorization": f"Bearer {key}", "Accept": "application/json"}
    results = []
    try:
        wait_listening(port)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for group_by in GROUP_BYS:
            query = urlencode({"start": first_day.isoformat(), "end": last_day.isoformat(), "group_by": group_by})
            path = f"/api/v1/tenants/{tenant.slug}/billing?{query}"
            times: list[float] = []
            body = b""
            for n in range(requests + 10):
                started = time.perf_counter()
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                body = response.read()
                elapsed = (time.perf_counter() - started) * 1000
                if response.status != 200:
                    raise SystemExit(f"GET {path}: {response.status} {body[:300]!r}")
                if n >= 10:
                    times.append(elapsed)
            data = json.loads(body)
            results.append(Timing(group_by, times, len(data["rows"]), len(body), data["totals"]))
        conn.close()
    finally:
        stop(process)
    return results


def measure_api(url: str, last_day: date, requests: int) -> None:
    from billing.models import CostRecord

    say(f"\nBilling API: tenant {API_TENANT}, {API_SITES} sites × 4 services + the assistant over {API_DAYS} days")
    tenant, key = api_tenant(last_day)
    # What autovacuum would have done by then (it is off on this server), and the aggregation's
    # writes flushed: the API is measured on its own.
    maintenance(url, "VACUUM (ANALYZE) billing_costrecord", "CHECKPOINT")
    records = CostRecord.objects.filter(tenant=tenant).count()
    say(f"  {records:,} cost records of the tenant, {CostRecord.objects.count():,} in all; {load_average()}")
    first_day = last_day - timedelta(days=API_DAYS - 1)
    timings = time_api(url=url, tenant=tenant, key=key, first_day=first_day, last_day=last_day, requests=requests)
    say(
        f"\nGET /api/v1/tenants/{API_TENANT}/billing?start={first_day}&end={last_day}&group_by=…\n"
        f"  uvicorn, 1 process, DEBUG off; {requests} sequential requests per group_by after 10 warm-up ones, one "
        "keep-alive connection, API key of the billing role, on the tenant's host"
    )
    say(
        f"{'group_by':<9} {'n':>4} {'rows':>5} {'bytes':>8} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} "
        f"{'p95/target':>10}"
    )
    for timing in timings:
        p95 = percentile(timing.times_ms, 95)
        say(
            f"{timing.group_by:<9} {len(timing.times_ms):>4} {timing.rows:>5} {timing.bytes:>8,} "
            f"{percentile(timing.times_ms, 50):>8.1f} {p95:>8.1f} {max(timing.times_ms):>8.1f} "
            f"{p95 / TARGET_P95_MS:>10.2f}"
        )
    totals = {json.dumps(timing.totals, sort_keys=True) for timing in timings}
    worst = max(percentile(timing.times_ms, 95) for timing in timings)
    say(
        f"totals {'agree' if len(totals) == 1 else 'DIFFER'} across the groupings; worst p95 {worst:.1f} ms = "
        f"{worst / TARGET_P95_MS:.2f}x the {TARGET_P95_MS:.0f} ms target  -> target "
        f"{'met' if worst <= TARGET_P95_MS else 'NOT met'}; {load_average()}"
    )


# --- Main ----------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=None, help="export rows to generate (default 10,000,000)")
    parser.add_argument("--requests", type=int, default=None, help="requests per group_by (default 200)")
    parser.add_argument("--quick", action="store_true", help="1,000,000 rows and 50 requests per group_by")
    parser.add_argument("--keep", action="store_true", help=f"keep the database ({DB_NAME}) at the end")
    parser.add_argument("--reuse", action="store_true", help="reuse a kept database holding as many rows")
    args = parser.parse_args()
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    requests = args.requests or (50 if args.quick else 200)

    url = bench_database_url(DB_NAME)
    reused = False
    if args.reuse:
        found = kept_rows(url)
        reused = found == rows
        if not reused:
            say(f"--reuse: {DB_NAME} holds {found or 0:,} export rows, not {rows:,}: generating them again")
    if not reused:
        fresh_database(DB_NAME)
    # The in-process calls see the same settings as the API server: DEBUG off, no throttle refusals.
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ["API_THROTTLE_RATE"] = "100000000/min"
    os.environ["API_TENANT_THROTTLE_RATE"] = "100000000/min"
    started = time.perf_counter()
    if reused:
        django_on_kept(url)
    else:
        django_on(url)
    say(f"database {DB_NAME}: {'reused' if reused else 'created'}, migrated in {time.perf_counter() - started:.1f} s")

    try:
        generated = None
        if reused:
            from billing.models import CostRecord

            # Run 1 is a first aggregation again: no records of the range yet.
            first_day, last_day = export_days_of_table()
            CostRecord.objects.filter(day__range=(first_day, last_day)).delete()
            maintenance(url, "VACUUM (ANALYZE) billing_costrecord")
        else:
            say(f"generating {rows:,} export rows in PostgreSQL ...")
            generated = generate(url, rows)
        describe = describe_export()
        report_generation(rows, generated, describe, check_consistency())
        measure_aggregation(url, int(describe["rows"]), describe["first_day"], describe["last_day"])
        measure_api(url, describe["last_day"], requests)
    finally:
        from django.db import connections

        connections.close_all()
        if args.keep:
            say(f"\nkept database {DB_NAME} (--reuse runs on it again)")
        else:
            drop_database(url)


def django_on_kept(url: str) -> None:
    """As _setup.django_on, but migrating the public schema only: `setup_platform` also migrates every
    tenant's schema, and the 500 generated tenants have none (migrate_schemas would fail on them)."""
    os.environ["DATABASE_URL"] = url
    os.environ["CELERY_QUEUE"] = "aipress-bench"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aipress.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate_schemas", shared=True, interactive=False, verbosity=0)
    atexit.register(purge_bench_queue)


def purge_bench_queue() -> None:
    from aipress.celery import app

    app.control.purge()


def export_days_of_table() -> tuple[date, date]:
    from django.db.models import Max, Min

    from billing.models import ExportRow

    days = ExportRow.objects.aggregate(first=Min("usage_date"), last=Max("usage_date"))
    return days["first"], days["last"]


if __name__ == "__main__":
    main()
