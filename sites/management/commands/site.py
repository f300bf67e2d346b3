import time
from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django_tenants.utils import tenant_context

from aipress.errors import ServiceError
from sites import selectors, services
from sites.models import SiteStatus
from sites.services_urls import site_url_for
from tenants import selectors as tenant_selectors
from tenants.audit import Actor
from tenants.cli import fail_on_service_error
from tenants.models import Membership, Role, Tenant


class Command(BaseCommand):
    help = "Create, list and delete sites of a tenant (create and delete wait for the worker)."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for action in ("create", "delete"):
            command = sub.add_parser(action)
            command.add_argument("--tenant", required=True)
            command.add_argument("name")
            command.add_argument("--timeout", type=float, default=120.0)
            if action == "create":
                command.add_argument("--title", default="")
        listing = sub.add_parser("list")
        listing.add_argument("--tenant", required=True)

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_selectors.tenant_get_by_slug(options["tenant"])
        if tenant is None:
            raise CommandError(f"No tenant “{options['tenant']}”; see `manage.py tenant list`.")
        try:
            with tenant_context(tenant):
                getattr(self, f"_{options['action']}")(tenant, options)
        except ServiceError as exc:
            raise fail_on_service_error(exc) from None

    def _actor(self, tenant: Tenant) -> Actor:
        owner = Membership.objects.filter(tenant=tenant, role=Role.OWNER).select_related("user").first()
        return Actor(user=owner.user if owner else None, label="cli")

    def _wait(self, name: str, wanted: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            site = selectors.site_get(name)
            status = site.status if site else SiteStatus.DELETED
            if status == wanted:
                return
            if status == SiteStatus.FAILED:
                raise CommandError(f"“{name}” failed: {site.last_error}")
            time.sleep(0.3)
        raise CommandError(f"“{name}” is not {wanted} after {timeout:.0f}s: are the worker and runtime running?")

    def _create(self, tenant: Tenant, options: dict) -> None:
        site, password = services.site_request(
            actor=self._actor(tenant), tenant=tenant, name=options["name"], title=options["title"]
        )
        self._wait(site.slug, SiteStatus.READY, options["timeout"])
        url = site_url_for(services.site_hostname(tenant, site.slug))
        self.stdout.write(f"{site.slug} ready: {url}  (wp-admin: {url}wp-admin/)")
        self.stderr.write("WordPress admin password, shown once:")
        self.stdout.write(password)

    def _list(self, tenant: Tenant, options: dict) -> None:
        self.stdout.write(f"{'NAME':<24} {'STATUS':<13} URL")
        for site in selectors.site_list():
            self.stdout.write(
                f"{site.slug:<24} {site.status:<13} {site_url_for(services.site_hostname(tenant, site.slug))}"
            )

    def _delete(self, tenant: Tenant, options: dict) -> None:
        site = selectors.site_get(options["name"])
        if site is None:
            raise CommandError(f"No site “{options['name']}” in {tenant.slug}.")
        services.site_delete(actor=self._actor(tenant), site=site, tenant=tenant)
        self._wait(site.slug, SiteStatus.DELETED, options["timeout"])
        self.stdout.write(f"{site.slug} deleted.")
