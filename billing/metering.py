"""The local meter: what each site on the local runtime used since the meter last looked, written as
billing-export rows labelled with its tenant and site, priced from BILLING_PRICES.

- Requests, bytes out and PHP time come from the site's JSON access log (nginx's `upstream_duration`
  is the time PHP spent), read from where the meter stopped to the last complete line, and summed
  per hour.
- Disk is the size of the site's files and database now, charged for the time since the last charge
  (byte-seconds, priced per GiB-month of 30 days), split at UTC midnight so each day gets its part.

Running twice, or again after a crash, counts nothing twice: a site's rows and its cursor (the log's
identity and offset, the moment disk was charged to) are written in one transaction, under a row
lock that a concurrent run skips, and every row has a key made of the cursor it was read from.
"""

import json
import logging
import os
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.exports import rows_save
from billing.models import ExportRow, MeterCursor
from billing.sources.base import SITE_LABEL, TENANT_LABEL
from sites.inventory.models import SiteRecord
from sites.models import SiteStatus

logger = logging.getLogger(__name__)

GIB = Decimal(1024**3)
MONTH_SECONDS = Decimal(30 * 86_400)
READ_LIMIT = 64 * 1024 * 1024  # at most this much of a log per run: a huge backlog is read over several runs

# Services and SKUs of the local runtime, in the export's terms (id, description).
REQUESTS = ("aipress-local-requests", "Requests and traffic")
COMPUTE = ("aipress-local-compute", "PHP compute")
STORAGE = ("aipress-local-storage", "Storage")
SKU_REQUESTS = ("local-requests", "Requests")
SKU_EGRESS = ("local-egress", "Network egress")
SKU_PHP = ("local-php-time", "PHP request time")
SKU_FILES = ("local-files", "Site files")
SKU_DATABASE = ("local-database", "Site database")


def _price(name: str) -> Decimal:
    return Decimal(str(settings.BILLING_PRICES.get(name, "0")))


def site_key(tenant_id: int, site_id: int) -> str:
    return f"{settings.SITES_KEY_PREFIX}t{tenant_id}_s{site_id}"


@dataclass
class HourUsage:
    requests: int = 0
    bytes_out: int = 0
    php_seconds: Decimal = field(default_factory=lambda: Decimal(0))


def _seconds(value: object) -> Decimal:
    """nginx's upstream time: "0.012", "0.010, 0.002" (several upstream tries) or "-" (no PHP)."""
    total = Decimal(0)
    for raw in str(value or "").replace(":", ",").split(","):
        part = raw.strip()
        if part and part != "-":
            try:
                total += Decimal(part)
            except ArithmeticError:
                continue
    return total


def read_log(path: Path, offset: int) -> tuple[dict[datetime, HourUsage], int]:
    """Usage per hour in the log from `offset` to its last complete line, and the offset after it.
    A line that is not the platform's JSON is skipped (counted as nothing) rather than stopping the meter."""
    hours: dict[datetime, HourUsage] = defaultdict(HourUsage)
    with path.open("rb") as log:
        log.seek(offset)
        chunk = log.read(READ_LIMIT)
    complete = chunk.rfind(b"\n") + 1
    for line in chunk[:complete].splitlines():
        try:
            entry = json.loads(line)
            moment = datetime.fromisoformat(entry["time"]).astimezone(UTC)
        except (ValueError, KeyError, TypeError):
            continue
        hour = hours[moment.replace(minute=0, second=0, microsecond=0)]
        hour.requests += 1
        hour.bytes_out += max(0, int(entry.get("bytes") or 0))
        hour.php_seconds += _seconds(entry.get("upstream_duration"))
    return hours, offset + complete


def _row(
    *,
    key: str,
    tenant_id: int,
    site_id: int,
    service: tuple[str, str],
    sku: tuple[str, str],
    start: datetime,
    end: datetime,
    cost: Decimal,
    amount: Decimal,
    unit: str,
) -> ExportRow:
    labels = [
        {"key": TENANT_LABEL, "value": str(tenant_id)},
        {"key": SITE_LABEL, "value": str(site_id)},
        {"key": "aipress-managed", "value": "true"},
    ]
    return ExportRow(
        billing_account_id=settings.BILLING_ACCOUNT_ID,
        service_id=service[0],
        service_description=service[1],
        sku_id=sku[0],
        sku_description=sku[1],
        usage_start_time=start,
        usage_end_time=end,
        project_id="local",
        labels=labels,
        cost=cost.quantize(Decimal("0.000000001")),
        currency=settings.BILLING_CURRENCY,
        credits=[],
        usage_amount=amount,
        usage_unit=unit,
        invoice_month=f"{start:%Y%m}",
        row_key=key,
        tenant_label=str(tenant_id),
        site_label=str(site_id),
        credits_total=Decimal(0),
        usage_date=start.date(),
    )


def _log_rows(tenant_id: int, site_id: int, cursor_key: str, hours: dict[datetime, HourUsage]) -> Iterator[ExportRow]:
    for hour, usage in sorted(hours.items()):
        end = hour + timedelta(hours=1)
        common: dict[str, Any] = {"tenant_id": tenant_id, "site_id": site_id, "start": hour, "end": end}
        yield _row(
            key=f"{cursor_key}:requests:{hour:%Y%m%d%H}",
            service=REQUESTS,
            sku=SKU_REQUESTS,
            cost=_price("requests_per_million") * usage.requests / Decimal(1_000_000),
            amount=Decimal(usage.requests),
            unit="requests",
            **common,
        )
        yield _row(
            key=f"{cursor_key}:egress:{hour:%Y%m%d%H}",
            service=REQUESTS,
            sku=SKU_EGRESS,
            cost=_price("egress_per_gib") * usage.bytes_out / GIB,
            amount=Decimal(usage.bytes_out),
            unit="bytes",
            **common,
        )
        if usage.php_seconds:
            yield _row(
                key=f"{cursor_key}:php:{hour:%Y%m%d%H}",
                service=COMPUTE,
                sku=SKU_PHP,
                cost=_price("php_per_hour") * usage.php_seconds / Decimal(3600),
                amount=usage.php_seconds,
                unit="seconds",
                **common,
            )


def _days(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """[start, end) cut at each UTC midnight."""
    while start < end:
        midnight = (start + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        yield start, min(end, midnight)
        start = min(end, midnight)


def _disk_rows(
    tenant_id: int, site_id: int, since: datetime, now: datetime, sizes: dict[str, int]
) -> Iterator[ExportRow]:
    per_second = _price("disk_per_gib_month") / GIB / MONTH_SECONDS
    for start, end in _days(since, now):
        seconds = Decimal((end - start).total_seconds())
        for sku, size in (("files", sizes["files"]), ("database", sizes["database"])):
            yield _row(
                key=f"meter:t{tenant_id}_s{site_id}:disk-{sku}:{start.isoformat()}",
                tenant_id=tenant_id,
                site_id=site_id,
                service=STORAGE,
                sku=SKU_FILES if sku == "files" else SKU_DATABASE,
                start=start,
                end=end,
                cost=per_second * size * seconds,
                amount=Decimal(size) * seconds,
                unit="byte-seconds",
            )


def files_size(root: Path) -> int:
    """Bytes of the regular files under `root` (symbolic links are not followed: WordPress's own
    files are shared by every site and are not theirs to pay for)."""
    total = 0
    for folder, _, names in os.walk(root):
        for name in names:
            try:
                info = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            if not os.path.islink(os.path.join(folder, name)):
                total += info.st_size
    return total


def database_size(key: str) -> int:
    from sites.runtimes.local.database import admin_connection, database_name

    with admin_connection() as db, db.cursor() as cursor:
        cursor.execute(
            "SELECT COALESCE(SUM(data_length + index_length), 0) FROM information_schema.tables"
            " WHERE table_schema = %s",
            [database_name(key)],
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def _log_identity(path: Path) -> tuple[str, int] | None:
    try:
        info = path.stat()
    except FileNotFoundError:
        return None
    return f"{info.st_dev}:{info.st_ino}", info.st_size


@dataclass(frozen=True)
class MeterResult:
    sites: int
    rows: int
    skipped: int


def meter_site(record: SiteRecord, *, now: datetime | None = None) -> int | None:
    """Meter one site; the number of rows written, or None when another run holds it."""
    from sites.runtimes.local.files import site_dir
    from sites.runtimes.local.webserver import access_log

    now = now or timezone.now()
    key = site_key(record.tenant_id, record.site_id)
    MeterCursor.objects.get_or_create(tenant_id=record.tenant_id, site_id=record.site_id)
    with transaction.atomic():
        cursor = (
            MeterCursor.objects.select_for_update(skip_locked=True)
            .filter(tenant_id=record.tenant_id, site_id=record.site_id)
            .first()
        )
        if cursor is None:
            return None
        rows: list[ExportRow] = []
        log = access_log(key)
        found = _log_identity(log)
        if found is not None:
            identity, size = found
            # A new file (rotated, recreated) or a shorter one (truncated) is read from its start.
            same = identity == cursor.log_identity and size >= cursor.log_offset
            if not same and (cursor.log_identity or cursor.log_offset):
                cursor.log_generation += 1
            offset = cursor.log_offset if same else 0
            hours, after = read_log(log, offset)
            cursor_key = f"meter:t{record.tenant_id}_s{record.site_id}:{identity}:{cursor.log_generation}:{offset}"
            rows.extend(_log_rows(record.tenant_id, record.site_id, cursor_key, hours))
            cursor.log_identity, cursor.log_offset = identity, after
        if cursor.disk_charged_to is None:
            cursor.disk_charged_to = now  # charged from the first time the meter saw it
        elif now > cursor.disk_charged_to:
            try:
                sizes = {"files": files_size(site_dir(key)), "database": database_size(key)}
            except Exception:
                logger.warning("billing meter: cannot size %s's disk now", key, exc_info=True)
            else:
                rows.extend(_disk_rows(record.tenant_id, record.site_id, cursor.disk_charged_to, now, sizes))
                cursor.disk_charged_to = now
        written = rows_save(rows)
        cursor.save()
    return written


def meter_local_sites(*, now: datetime | None = None) -> MeterResult:
    """Meter every site of the local runtime that exists. (A deleted site's logs go with it: what it
    used since the last run, at most one interval, is not metered.)"""
    records = SiteRecord.objects.filter(runtime="local").exclude(status__in=[SiteStatus.DELETED, SiteStatus.REQUESTED])
    sites = rows = skipped = 0
    for record in records:
        written = meter_site(record, now=now)
        if written is None:
            skipped += 1
        else:
            sites += 1
            rows += written
    return MeterResult(sites=sites, rows=rows, skipped=skipped)
