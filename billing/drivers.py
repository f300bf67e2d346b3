"""The costs concern: where the billing-export rows that the aggregation sums come from."""

from billing.sources.base import CostSource
from kernel import drivers

COSTS = drivers.Concern(
    name="costs",
    protocol=CostSource,
    variable="BILLING_SOURCE",
    known={
        # Rows the local meter writes from what the platform's own sites use, in the database.
        "local": "billing.sources.local.LocalSource",
        # Google Cloud's billing export, queried in BigQuery.
        "bigquery": "billing.sources.bigquery.BigQuerySource",
    },
)


def register() -> None:
    drivers.register(COSTS)


def source() -> CostSource:
    found: CostSource = drivers.driver(COSTS.name)
    return found
