"""PostgreSQL schemas of tenants: the migrated template, and clones of it for new tenants."""

import re
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connection, transaction
from django.db.backends.utils import CursorWrapper
from django_tenants.clone import CloneSchema
from django_tenants.utils import schema_exists


def tenant_database() -> Any:
    """The default connection, with django-tenants' schema methods (its backend ships no types)."""
    return connection


def use_public_schema() -> None:
    tenant_database().set_schema_to_public()


def use_tenant_schema(tenant: Any) -> None:
    tenant_database().set_tenant(tenant)


def current_tenant() -> Any:
    """The tenant whose schema the connection is in (a Celery task's, from its `_schema_name`)."""
    return tenant_database().tenant


def template_schema_name() -> str:
    return settings.TENANT_BASE_SCHEMA


def ensure_template_schema(verbosity: int = 0) -> None:
    """Create the template schema if needed and bring it to the latest tenant migrations.

    Run at every deploy (`manage.py setup_platform`), so the template's own `django_migrations`
    rows are current; cloned tenants inherit them and need no migration run of their own.
    """
    name = template_schema_name()
    try:
        if not schema_exists(name):
            with connection.cursor() as cursor:
                cursor.execute(f'CREATE SCHEMA "{name}"')
        call_command("migrate_schemas", schema_name=name, tenant=True, interactive=False, verbosity=verbosity)
    finally:
        # Even when the migration fails: a connection left in the template's schema would write the
        # next request's rows into the template, and every later tenant would be cloned with them.
        use_public_schema()


def clone_tenant_schema(schema_name: str) -> None:
    """Make `schema_name` a copy of the template, atomically: it exists complete or not at all.

    A leftover from an interrupted attempt is dropped first, so a retry always starts clean. Callers
    hold the tenant's row lock (services.tenant_provision), so no finished schema is ever dropped.
    """
    template = template_schema_name()
    if not schema_exists(template):
        raise RuntimeError("The tenant template schema is missing: run `manage.py setup_platform`.")
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(f"DROP SCHEMA IF EXISTS {_q(schema_name)} CASCADE")
        if _has_objects_beyond_tables(cursor, template):
            CloneSchema().clone_schema(template, schema_name, "DATA")
        else:
            _clone_tables(cursor, template, schema_name)
    use_public_schema()


def _q(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _has_objects_beyond_tables(cursor: CursorWrapper, template: str) -> bool:
    """Views, functions, triggers or sequences not owned by an identity column need the generic clone."""
    cursor.execute(
        """
        SELECT
          (SELECT count(*) FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind IN ('v', 'm', 'f'))
        + (SELECT count(*) FROM pg_proc p WHERE p.pronamespace = n.oid)
        + (SELECT count(*) FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
             WHERE c.relnamespace = n.oid AND NOT t.tgisinternal)
        + (SELECT count(*) FROM pg_class s WHERE s.relnamespace = n.oid AND s.relkind = 'S'
             AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = s.oid AND d.deptype = 'i'))
        FROM pg_namespace n WHERE n.nspname = %s
        """,
        [template],
    )
    return cursor.fetchone()[0] > 0


_LIKE_OPTIONS = (
    "INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING GENERATED INCLUDING STORAGE "
    "INCLUDING COMMENTS INCLUDING CONSTRAINTS"  # CONSTRAINTS means CHECK constraints, names kept
)


def _clone_tables(cursor: CursorWrapper, template: str, target: str) -> None:
    """Copy tables, rows, constraints, indexes and identity sequences of `template` into `target`.

    Reads only the template's own catalog rows, so its cost does not grow with the number of
    tenants (django-tenants' generic clone function scans catalogs that do, and redefines itself on
    every call). Indexes and constraints are recreated from their definitions so that their names
    stay exactly those the migrations gave them; foreign keys come last, after the rows.
    """
    cursor.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind IN ('r', 'p') ORDER BY c.relname",
        [template],
    )
    tables = [row[0] for row in cursor.fetchall()]
    # Definitions printed while the template is the search path come out unqualified for its own
    # tables (so they resolve to the target's copies) and qualified for public ones (users...).
    cursor.execute(f"SET LOCAL search_path TO {_q(template)}")
    cursor.execute(
        "SELECT c.relname, con.conname, con.contype, pg_get_constraintdef(con.oid) FROM pg_constraint con "
        "JOIN pg_class c ON c.oid = con.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND con.contype IN ('p', 'u', 'x', 'f') "
        "ORDER BY c.relname, con.conname",
        [template],
    )
    constraints = cursor.fetchall()
    cursor.execute(
        "SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND NOT EXISTS "
        "(SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.contype IN ('p', 'u', 'x')) "
        "ORDER BY 1",
        [template],
    )
    indexes = [row[0] for row in cursor.fetchall()]
    cursor.execute(
        "SELECT c.relname, a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND a.attidentity <> '' AND a.attnum > 0 AND NOT a.attisdropped",
        [template],
    )
    identities = cursor.fetchall()

    cursor.execute(f"CREATE SCHEMA {_q(target)}")
    for table in tables:
        cursor.execute(f"CREATE TABLE {_q(target)}.{_q(table)} (LIKE {_q(template)}.{_q(table)} {_LIKE_OPTIONS})")
        cursor.execute(f"INSERT INTO {_q(target)}.{_q(table)} SELECT * FROM {_q(template)}.{_q(table)}")
    cursor.execute(f"SET LOCAL search_path TO {_q(target)}, public")
    # Keys, then indexes, then foreign keys: Django's are DEFERRABLE INITIALLY DEFERRED, and a table
    # with deferred checks pending refuses CREATE INDEX for the rest of the transaction.
    for table, name, kind, definition in constraints:
        if kind != "f":
            cursor.execute(f"ALTER TABLE {_q(target)}.{_q(table)} ADD CONSTRAINT {_q(name)} {definition}")
    # pg_get_indexdef always names the table with its schema: point it at the target instead.
    on_template = re.compile(r" ON (ONLY )?(" + re.escape(_q(template)) + "|" + re.escape(template) + r")\.")
    for definition in indexes:
        retargeted, count = on_template.subn(lambda m: f" ON {m.group(1) or ''}{_q(target)}.", definition, count=1)
        if count != 1:
            raise RuntimeError(f"Unexpected index definition in the template: {definition}")
        cursor.execute(retargeted)
    for table, name, kind, definition in constraints:
        if kind == "f":
            cursor.execute(f"ALTER TABLE {_q(target)}.{_q(table)} ADD CONSTRAINT {_q(name)} {definition}")
    for table, column in identities:
        qualified = f"{_q(target)}.{_q(table)}"
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, %s), max({_q(column)})) FROM {qualified} "
            f"HAVING max({_q(column)}) IS NOT NULL",
            [qualified, column],
        )


def drop_tenant_schema(schema_name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA IF EXISTS "{schema_name}" CASCADE')


def migrate_tenant_schema(schema_name: str) -> None:
    """The slow path the template avoids; kept for the benchmark and for repairing a schema."""
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema_name}"')
    call_command("migrate_schemas", schema_name=schema_name, tenant=True, interactive=False, verbosity=0)
    use_public_schema()
