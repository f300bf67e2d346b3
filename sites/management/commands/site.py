"""`manage.py site`: the sites of a tenant from the command line, as the platform's operator.

It calls the same services as the API and the portal, as the system actor "cli", and prints their
messages; a change waits for its operation to finish (or --no-wait)."""

import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kernel.errors import ServiceError
from sites import selectors, services
from sites.models import OperationState, SiteOperation
from sites.services_urls import site_url_for
from tenants import selectors as tenant_selectors
from tenants.audit import Actor
from tenants.cli import fail_on_service_error
from tenants.models import Tenant

ACTOR = Actor.system("cli")


class Command(BaseCommand):
    help = "Create, list, suspend, resume, retry and delete the sites of a tenant."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for action in ("create", "delete", "suspend", "resume", "retry"):
            command = sub.add_parser(action)
            command.add_argument("--tenant", required=True)
            command.add_argument("name")
            command.add_argument("--timeout", type=float, default=120.0)
            command.add_argument("--no-wait", action="store_true", help="Return once the change is queued.")
            if action == "create":
                command.add_argument("--title", default="")
        listing = sub.add_parser("list")
        listing.add_argument("--tenant", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_selectors.tenant_get_by_slug(options["tenant"])
        if tenant is None:
            raise CommandError(f"No tenant “{options['tenant']}”; see `manage.py tenant list`.")
        try:
            getattr(self, f"_{options['action']}")(tenant, options)
        except ServiceError as exc:
            raise fail_on_service_error(exc) from None

    def _wait(self, tenant: Tenant, name: str, operation: SiteOperation, options: dict) -> None:
        if options["no_wait"]:
            self.stdout.write(f"{operation.kind} of {name} queued (operation {operation.pk}).")
            return
        deadline = time.monotonic() + options["timeout"]
        while time.monotonic() < deadline:
            current = selectors.site_operation(tenant=tenant, actor=ACTOR, name=name, operation_id=operation.pk)
            if current.state == OperationState.SUCCEEDED:
                return
            if current.state in (OperationState.FAILED, OperationState.CANCELLED):
                raise CommandError(f"{operation.kind} of “{name}” {current.state}: {current.error}")
            time.sleep(0.3)
        raise CommandError(
            f"{operation.kind} of “{name}” is not done after {options['timeout']:.0f}s: "
            "are the worker and the site runtime running?"
        )

    def _create(self, tenant: Tenant, options: dict) -> None:
        site, operation, password = services.site_request(
            tenant=tenant, actor=ACTOR, name=options["name"], title=options["title"]
        )
        self._wait(tenant, site.slug, operation, options)
        url = site_url_for(services.site_hostname(tenant, site.slug))
        self.stdout.write(
            f"{site.slug} {'ready' if not options['no_wait'] else 'requested'}: {url}  (wp-admin: {url}wp-admin/)"
        )
        self.stderr.write("WordPress admin password, shown once:")
        self.stdout.write(password)

    def _list(self, tenant: Tenant, options: dict) -> None:
        self.stdout.write(f"{'NAME':<24} {'STATUS':<13} URL")
        for site in selectors.site_list(tenant=tenant, actor=ACTOR):
            url = site_url_for(services.site_hostname(tenant, site.slug))
            self.stdout.write(f"{site.slug:<24} {site.status:<13} {url}")

    def _change(self, tenant: Tenant, options: dict, service: Any, done: str) -> None:
        operation = service(tenant=tenant, actor=ACTOR, name=options["name"])
        self._wait(tenant, options["name"], operation, options)
        if not options["no_wait"]:
            self.stdout.write(f"{options['name']} {done}.")

    def _delete(self, tenant: Tenant, options: dict) -> None:
        self._change(tenant, options, services.site_delete, "deleted")

    def _suspend(self, tenant: Tenant, options: dict) -> None:
        self._change(tenant, options, services.site_suspend, "suspended")

    def _resume(self, tenant: Tenant, options: dict) -> None:
        self._change(tenant, options, services.site_resume, "resumed")

    def _retry(self, tenant: Tenant, options: dict) -> None:
        self._change(tenant, options, services.site_retry, "ready")
