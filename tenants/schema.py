"""PostgreSQL schemas of tenants: the migrated template, and clones of it for new tenants."""

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django_tenants.clone import CloneSchema
from django_tenants.utils import schema_exists


def template_schema_name() -> str:
    return settings.TENANT_BASE_SCHEMA


def ensure_template_schema(verbosity: int = 0) -> None:
    """Create the template schema if needed and bring it to the latest tenant migrations.

    Run at every deploy (`manage.py setup_platform`), so the template's own `django_migrations`
    rows are current; cloned tenants inherit them and need no migration run of their own.
    """
    name = template_schema_name()
    if not schema_exists(name):
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE SCHEMA "{name}"')
    call_command("migrate_schemas", schema_name=name, tenant=True, interactive=False, verbosity=verbosity)
    connection.set_schema_to_public()


def clone_tenant_schema(schema_name: str) -> None:
    """Make `schema_name` a copy of the template, atomically: it exists complete or not at all.

    A leftover from an interrupted attempt is dropped first, so a retry always starts clean. Callers
    hold the tenant's row lock (services.tenant_provision), so no finished schema is ever dropped.
    """
    if not schema_exists(template_schema_name()):
        raise RuntimeError("The tenant template schema is missing: run `manage.py setup_platform`.")
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')
        CloneSchema().clone_schema(template_schema_name(), schema_name, "DATA")
    connection.set_schema_to_public()


def drop_tenant_schema(schema_name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')


def migrate_tenant_schema(schema_name: str) -> None:
    """The slow path the template avoids; kept for the benchmark and for repairing a schema."""
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema_name}"')
    call_command("migrate_schemas", schema_name=schema_name, tenant=True, interactive=False, verbosity=0)
    connection.set_schema_to_public()
