"""`manage.py billing aggregate|meter|load-export|evaluate`: what the beat runs, by hand (backfills,
a file of a real export, a check after changing a price)."""

import sys
from argparse import ArgumentParser
from datetime import date
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from billing import aggregation, exports, metering, services
from billing.sources.base import SourceError
from kernel.errors import ServiceError


def _day(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"{value!r} is not a date; use YYYY-MM-DD.") from None


class Command(BaseCommand):
    help = "Costs: aggregate billing-export rows into daily records, run the local meter, load an export."

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="command", required=True)
        aggregate = commands.add_parser("aggregate", help="(Re)write the daily cost records of a range of days.")
        aggregate.add_argument("--start", required=True, help="First day, YYYY-MM-DD (UTC).")
        aggregate.add_argument("--end", required=True, help="Last day, YYYY-MM-DD (UTC), included.")
        commands.add_parser("meter", help="Write the local sites' usage since the last run as export rows.")
        load = commands.add_parser("load-export", help="Load billing-export rows (JSON lines, Google's shape).")
        load.add_argument("path", help="A file, or - for standard input.")
        commands.add_parser("evaluate", help="Compare budgets with this month's cost and look for anomalies.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            getattr(self, "_" + options["command"].replace("-", "_"))(options)
        except (ServiceError, SourceError) as exc:
            raise CommandError(str(exc)) from None

    def _aggregate(self, options: dict[str, Any]) -> None:
        start, end = _day(options["start"]), _day(options["end"])
        result = aggregation.costs_aggregate(start=start, end=end)
        self.stdout.write(
            f"{start}..{end}: {result.groups} cost records written, {result.deleted} no longer backed by rows removed"
        )

    def _meter(self, options: dict[str, Any]) -> None:
        result = metering.meter_local_sites()
        self.stdout.write(f"{result.sites} sites metered, {result.rows} rows written, {result.skipped} busy")

    def _load_export(self, options: dict[str, Any]) -> None:
        path = options["path"]
        if path == "-":
            lines = sys.stdin
        else:
            try:
                lines = Path(path).open(encoding="utf-8")  # noqa: SIM115 - closed at exit of the command
            except OSError as exc:
                raise CommandError(f"{path}: {exc.strerror}") from None
        with transaction.atomic():
            added = exports.rows_save(exports.read_export_lines(lines))
        self.stdout.write(f"{added} rows added (rows already loaded are skipped)")

    def _evaluate(self, options: dict[str, Any]) -> None:
        outcome = services.budgets_evaluate()
        alerts = services.anomalies_detect()
        self.stdout.write(f"{outcome.notices} budget notices, {outcome.enforced} budget actions, {alerts} anomalies")
