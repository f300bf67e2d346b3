"""The costs concern: where billing-export rows come from and how they are summed per day.

Both sources answer the same question the same way: for a range of usage days (UTC, both ends
included), the gross cost, the sum of credits (negative) and the net per tenant label, site label,
service, day and currency. Net cost is cost plus the sum of its credits, as Google Cloud defines it.
"""

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

TENANT_LABEL = "aipress-tenant-id"
SITE_LABEL = "aipress-site-id"


class SourceError(Exception):
    """The source could not answer; the message says what to fix (a setting, a permission, a table)."""


@dataclass(frozen=True)
class DailyCost:
    """One group of the export: `tenant_label` and `site_label` are "" when the rows carried none."""

    tenant_label: str
    site_label: str
    service: str
    day: date
    currency: str
    gross: Decimal
    credits: Decimal

    @property
    def net(self) -> Decimal:
        return self.gross + self.credits


class CostSource(Protocol):
    def daily_costs(self, *, start: date, end: date) -> list[DailyCost]:
        """Every group of rows whose usage started on a day from `start` to `end` (UTC, inclusive)."""
        ...

    def latest_usage(self) -> datetime | None:
        """The end of the newest usage the source holds: how fresh its figures are."""
        ...

    def check(self) -> str:
        """A short description of what the source reads, or an exception when it cannot be read."""
        ...
