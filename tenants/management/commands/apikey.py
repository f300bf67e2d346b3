from argparse import ArgumentParser
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from kernel.errors import ServiceError
from tenants import selectors, services
from tenants.audit import Actor
from tenants.cli import fail_on_service_error
from tenants.models import ApiKeyScope, Membership, Role


class Command(BaseCommand):
    help = "Create an API key. The key is printed alone on the last line, once."

    def add_arguments(self, parser: ArgumentParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        create = sub.add_parser("create")
        target = create.add_mutually_exclusive_group(required=True)
        target.add_argument("--tenant", help="Slug of the tenant the key acts in.")
        target.add_argument("--staff", metavar="EMAIL", help="A staff key for the platform endpoints, owned by EMAIL.")
        create.add_argument("--name", required=True)
        create.add_argument("--role", default=Role.ADMIN, help="admin (default), member or billing")
        create.add_argument(
            "--scope",
            default=ApiKeyScope.WRITE.value,
            choices=[each.value for each in ApiKeyScope],
            help="write (default): everything the role allows; read: look only (GET, HEAD, OPTIONS)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["staff"]:
                user = services.user_ensure(email=options["staff"], verified=False)
                if not user.is_staff:
                    raise CommandError(f"{user.email} is not platform staff.")
                key, raw = services.api_key_create(
                    actor=Actor.system("cli"), tenant=None, name=options["name"], owner=user, scope=options["scope"]
                )
            else:
                tenant = selectors.tenant_get_by_slug(options["tenant"])
                if tenant is None:
                    raise CommandError(f"No tenant “{options['tenant']}”; see `manage.py tenant list`.")
                owner = Membership.objects.filter(tenant=tenant, role=Role.OWNER).select_related("user").first()
                if owner is None:
                    raise CommandError(f"Tenant “{tenant.slug}” has no owner to hold the key.")
                key, raw = services.api_key_create(
                    actor=Actor.system("cli"),
                    tenant=tenant,
                    name=options["name"],
                    role=options["role"],
                    owner=owner.user,
                    scope=options["scope"],
                )
        except ServiceError as exc:
            raise fail_on_service_error(exc) from None
        self.stderr.write(f"Created {key.scope} key “{key.name}” ({key.prefix}…). Store it now; it is not shown again.")
        self.stdout.write(raw)
