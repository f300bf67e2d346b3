"""Billing-export rows in Google Cloud's shape (the JSON a BigQuery export of the standard billing
table gives, one object per line) to ExportRow, with the derived columns filled in.

A row's key is a digest of its content when it comes from a file, so loading the same file twice
adds nothing; the meter gives its own keys (billing.metering)."""

import hashlib
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction

from billing.models import ExportRow
from billing.sources.base import SITE_LABEL, TENANT_LABEL
from kernel.errors import InvalidInput

LABEL_MAX = 63  # Google Cloud's limit on a label value


def label_value(labels: Iterable[dict[str, Any]], key: str) -> str:
    for label in labels:
        if label.get("key") == key:
            return str(label.get("value") or "")[:LABEL_MAX]
    return ""


def credits_total(credits: Iterable[dict[str, Any]]) -> Decimal:
    return sum((Decimal(str(credit.get("amount") or 0)) for credit in credits), Decimal(0))


def _timestamp(value: Any, field: str) -> datetime:
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value).replace(" UTC", "+00:00").replace("Z", "+00:00"))
        except ValueError:
            raise InvalidInput(f"{field}: {value!r} is not a timestamp (such as 2026-10-01T00:00:00Z).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _decimal(value: Any, field: str) -> Decimal:
    try:
        return Decimal(str(value if value is not None else 0))
    except InvalidOperation:
        raise InvalidInput(f"{field}: {value!r} is not a number.") from None


def row_from_export(data: dict[str, Any], *, row_key: str | None = None) -> ExportRow:
    """An unsaved ExportRow from one exported row; InvalidInput names the field that is wrong."""
    if not isinstance(data, dict):
        raise InvalidInput("A billing-export row is a JSON object.")
    service = data.get("service") or {}
    sku = data.get("sku") or {}
    usage = data.get("usage") or {}
    labels = [
        {"key": str(item.get("key", "")), "value": str(item.get("value", ""))} for item in data.get("labels") or []
    ]
    credits = [
        {"name": str(item.get("name", "")), "amount": float(_decimal(item.get("amount"), "credits.amount"))}
        for item in data.get("credits") or []
    ]
    start = _timestamp(data.get("usage_start_time"), "usage_start_time")
    end = _timestamp(data.get("usage_end_time") or start, "usage_end_time")
    currency = str(data.get("currency") or "")
    if len(currency) != 3:
        raise InvalidInput(f"currency: {currency!r} is not a three-letter currency code.")
    invoice = data.get("invoice") or {}
    return ExportRow(
        billing_account_id=str(data.get("billing_account_id") or ""),
        service_id=str(service.get("id") or ""),
        service_description=str(service.get("description") or "")[:128],
        sku_id=str(sku.get("id") or ""),
        sku_description=str(sku.get("description") or "")[:255],
        usage_start_time=start,
        usage_end_time=end,
        project_id=str((data.get("project") or {}).get("id") or ""),
        labels=labels,
        cost=_decimal(data.get("cost"), "cost"),
        currency=currency.upper(),
        credits=credits,
        usage_amount=_decimal(usage.get("amount"), "usage.amount"),
        usage_unit=str(usage.get("unit") or ""),
        invoice_month=str(invoice.get("month") or f"{start:%Y%m}"),
        row_key=row_key or "file:" + hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest(),
        tenant_label=label_value(labels, TENANT_LABEL),
        site_label=label_value(labels, SITE_LABEL),
        credits_total=credits_total(credits),
        usage_date=start.astimezone(UTC).date(),
    )


def rows_save(rows: Iterable[ExportRow], *, batch: int = 5000) -> int:
    """Store rows, skipping any whose key is already there. Answers how many were new."""
    added = 0
    pending: list[ExportRow] = []
    with transaction.atomic():
        for row in rows:
            pending.append(row)
            if len(pending) >= batch:
                added += _save_batch(pending)
                pending = []
        if pending:
            added += _save_batch(pending)
    return added


def _save_batch(rows: list[ExportRow]) -> int:
    keys = [row.row_key for row in rows]
    before = ExportRow.objects.filter(row_key__in=keys).count()
    ExportRow.objects.bulk_create(rows, ignore_conflicts=True)
    return ExportRow.objects.filter(row_key__in=keys).count() - before


def read_export_lines(lines: Iterable[str]) -> Iterator[ExportRow]:
    """Rows from JSON lines; InvalidInput names the line that is wrong (nothing is stored then: the
    caller saves inside one transaction)."""
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InvalidInput(f"line {number}: not JSON ({exc.msg}).") from None
        try:
            yield row_from_export(data)
        except InvalidInput as exc:
            raise InvalidInput(f"line {number}: {exc}") from None
