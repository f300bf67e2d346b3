"""A ready-to-use platform for trying AIPress locally. Running it again converges to the same state."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from tenants import selectors, services
from tenants.audit import Actor
from tenants.cli import wait_until_active
from tenants.context_processors import public_url
from tenants.models import ApiKey, TenantStatus

DEMO_PASSWORD = "aipress-demo-password"  # noqa: S105 - a local demo credential, printed on purpose
STAFF_EMAIL = "staff@aipress.localhost"
OWNER_EMAIL = "owner@acme.localhost"
DEMO_KEY_NAME = "demo"


class Command(BaseCommand):
    help = "Create (or refresh) a staff user, tenant `acme` with an owner, and an API key; print how to use them."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--timeout", type=float, default=60.0)

    def handle(self, *args: Any, **options: Any) -> None:
        staff = services.user_ensure(email=STAFF_EMAIL, password=DEMO_PASSWORD, is_staff=True)
        if not staff.is_superuser:
            staff.is_staff = staff.is_superuser = True
            staff.save(update_fields=["is_staff", "is_superuser"])
        owner = services.user_ensure(email=OWNER_EMAIL, password=DEMO_PASSWORD)
        actor = Actor.system("demo")
        tenant = selectors.tenant_get_by_slug("acme")
        if tenant is None or tenant.status == TenantStatus.FAILED:
            tenant = services.tenant_create(actor=actor, slug="acme", name="Acme Corporation", owner=owner)
        if tenant.status == TenantStatus.SUSPENDED:
            tenant = services.tenant_resume(actor=actor, tenant=tenant, reason="demo reset")
        if tenant.status == TenantStatus.PROVISIONING:
            # `make run` calls demo before the worker starts; provisioning is idempotent, so doing it
            # here is safe and the queued task will find the tenant already active.
            tenant = services.tenant_provision(tenant_id=tenant.pk) or tenant
        tenant = wait_until_active(tenant, options["timeout"])
        # A key's secret cannot be shown twice, so the demo rotates its key: one active demo key remains.
        for old in ApiKey.objects.filter(tenant=tenant, name=DEMO_KEY_NAME, revoked_at=None):
            services.api_key_revoke(actor=actor, key=old)
        _, raw = services.api_key_create(actor=actor, tenant=tenant, name=DEMO_KEY_NAME, owner=owner)
        self.stdout.write(
            "\n".join(
                [
                    "",
                    "AIPress is ready.",
                    f"  Portal (sign up here):   {public_url()}",
                    f"  Staff console:           {public_url('/admin/')}   {STAFF_EMAIL} / {DEMO_PASSWORD}",
                    f"  Tenant acme:             {tenant.portal_url}   {OWNER_EMAIL} / {DEMO_PASSWORD}",
                    f"  Chat with the assistant: {tenant.portal_url}chat/   (staff: {public_url('/chat/')})",
                    f"  API docs:                {public_url('/api/docs/')}",
                    f"  API key for acme:        {raw}",
                    f"  DNS (the sites' zone):   {settings.DNS_SERVER_HOST}:{settings.DNS_SERVER_PORT}   "
                    f"(dig @{settings.DNS_SERVER_HOST} -p {settings.DNS_SERVER_PORT} {settings.SITES_DOMAIN} SOA)",
                    f"  Try:  curl -H 'Authorization: Bearer {raw}' {public_url('/api/v1/tenant/')}",
                    "",
                ]
            )
        )
