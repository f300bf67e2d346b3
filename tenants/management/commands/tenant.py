from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kernel.errors import ServiceError
from tenants import selectors, services
from tenants.audit import Actor
from tenants.cli import fail_on_service_error, wait_until_active
from tenants.models import Tenant


class Command(BaseCommand):
    help = "Create, list, suspend, resume and delete tenants."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create", help="Create a tenant and wait until it is active.")
        create.add_argument("slug")
        create.add_argument("--owner", required=True, help="Owner's email; the user is created if needed.")
        create.add_argument("--name", default="")
        create.add_argument("--timeout", type=float, default=60.0, help="Seconds to wait for the tenant.")
        create.add_argument("--no-wait", action="store_true", help="Return as soon as creation is queued.")
        sub.add_parser("list", help="List tenants.")
        suspend = sub.add_parser("suspend", help="Suspend a tenant.")
        suspend.add_argument("slug")
        suspend.add_argument("--reason", required=True)
        resume = sub.add_parser("resume", help="Resume a suspended tenant.")
        resume.add_argument("slug")
        delete = sub.add_parser("delete", help="Delete a tenant: its sites first, then its data.")
        delete.add_argument("slug")
        delete.add_argument("--confirm", required=True, help="The tenant's slug again.")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = Actor.system("cli")
        try:
            getattr(self, f"_{options['action']}")(actor, options)
        except ServiceError as exc:
            raise fail_on_service_error(exc) from None

    def _tenant(self, slug: str) -> Tenant:
        tenant = selectors.tenant_get_by_slug(slug)
        if tenant is None:
            raise CommandError(f"No tenant “{slug}”; see `manage.py tenant list`.")
        return tenant

    def _create(self, actor: Actor, options: dict) -> None:
        owner = services.user_ensure(email=options["owner"], verified=False)
        tenant = services.tenant_create(actor=actor, slug=options["slug"], name=options["name"], owner=owner)
        if options["no_wait"]:
            self.stdout.write(f"{tenant.slug} queued: {tenant.portal_url}")
            return
        tenant = wait_until_active(tenant, options["timeout"])
        self.stdout.write(f"{tenant.slug} active: {tenant.portal_url}")

    def _list(self, actor: Actor, options: dict) -> None:
        rows = selectors.tenant_list()
        self.stdout.write(f"{'SLUG':<24} {'STATUS':<13} {'MEMBERS':>7}  NAME")
        for t in rows:
            self.stdout.write(f"{t.slug:<24} {t.status:<13} {t.member_count:>7}  {t.name}")

    def _suspend(self, actor: Actor, options: dict) -> None:
        tenant = services.tenant_suspend(actor=actor, tenant=self._tenant(options["slug"]), reason=options["reason"])
        self.stdout.write(f"{tenant.slug} suspended.")

    def _resume(self, actor: Actor, options: dict) -> None:
        tenant = services.tenant_resume(actor=actor, tenant=self._tenant(options["slug"]))
        self.stdout.write(f"{tenant.slug} active.")

    def _delete(self, actor: Actor, options: dict) -> None:
        tenant = services.tenant_delete(actor=actor, tenant=self._tenant(options["slug"]), confirm=options["confirm"])
        self.stdout.write(f"{tenant.slug} is being deleted: its sites first, then its data (the worker does it).")
