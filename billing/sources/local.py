"""The local source: billing-export rows in the platform's own database (ExportRow), written by the
meter from what local sites use (billing.metering) or loaded from a file of a real export.

`daily_costs` is the same query as BigQuery's (billing.sources.bigquery), run by PostgreSQL on the
columns derived from the labels and credits when each row was written: one GROUP BY, no JSON work."""

from datetime import date, datetime
from decimal import Decimal

from django.db import connection
from django.db.models import Max

from billing.models import ExportRow
from billing.sources.base import DailyCost

# Grouped in the order of the covering index `export_row_daily` (PostgreSQL 15 does not reorder the
# keys to match an index): an index-only scan feeds a streaming aggregate (bench/cost_aggregation.py).
_DAILY = f"""
SELECT tenant_label, site_label, service_description AS service, usage_date AS day, currency,
       SUM(cost) AS gross, SUM(credits_total) AS credits
FROM {ExportRow._meta.db_table}
WHERE usage_date BETWEEN %(start)s AND %(end)s
GROUP BY usage_date, tenant_label, site_label, service_description, currency
"""


class LocalSource:
    def daily_costs(self, *, start: date, end: date) -> list[DailyCost]:
        with connection.cursor() as cursor:
            cursor.execute(_DAILY, {"start": start, "end": end})
            return [
                DailyCost(
                    tenant_label=tenant_label,
                    site_label=site_label,
                    service=service,
                    day=day,
                    currency=currency,
                    gross=Decimal(gross),
                    credits=Decimal(credits),
                )
                for tenant_label, site_label, service, day, currency, gross, credits in cursor.fetchall()
            ]

    def daily_costs_sql(self) -> str:
        """The same query for the aggregation to run inside the database (billing.aggregation)."""
        return _DAILY

    def latest_usage(self) -> datetime | None:
        latest: datetime | None = ExportRow.objects.aggregate(latest=Max("usage_end_time"))["latest"]
        return latest

    def check(self) -> str:
        return f"billing-export rows in the platform's database ({ExportRow._meta.db_table})"
