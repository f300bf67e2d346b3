"""Bring the database to the current code: public schema, template schema, then every tenant."""

from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand

from kernel import drivers
from tenants.schema import ensure_template_schema


class Command(BaseCommand):
    help = "Migrate the public schema, refresh the tenant template schema, and migrate existing tenants."

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        call_command("migrate_schemas", shared=True, interactive=False, verbosity=max(verbosity - 1, 0))
        ensure_template_schema(verbosity=max(verbosity - 1, 0))
        call_command("migrate_schemas", tenant=True, interactive=False, verbosity=max(verbosity - 1, 0))
        self.stdout.write("Database ready: public schema, tenant template and tenants migrated.")
        self.stdout.write("Drivers (each chosen by its variable; see docs/architecture.md):")
        for report in drivers.report():
            state = "ok" if report.reachable else "NOT REACHABLE"
            chosen = f"{report.variable}={report.driver}"
            self.stdout.write(f"  {report.concern:<8} {chosen:<24} {state}: {report.detail}")
