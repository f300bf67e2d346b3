"""Shared behaviour of our management commands: one-line errors and a non-zero exit."""

import time

from django.core.management.base import CommandError

from kernel.errors import ServiceError
from tenants.models import Tenant, TenantStatus


def fail_on_service_error(exc: ServiceError) -> CommandError:
    where = f" ({exc.field})" if exc.field else ""
    return CommandError(f"{exc.message}{where}")


def wait_until_active(tenant: Tenant, timeout: float) -> Tenant:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tenant.refresh_from_db()
        if tenant.status == TenantStatus.ACTIVE:
            return tenant
        if tenant.status == TenantStatus.FAILED:
            raise CommandError(f"Creating “{tenant.slug}” failed: {tenant.last_error}")
        time.sleep(0.2)
    raise CommandError(
        f"“{tenant.slug}” is still {tenant.status} after {timeout:.0f}s: is a Celery worker running? "
        "(make run starts one)"
    )
