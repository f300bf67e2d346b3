"""The `database` step: a database in the shared Cloud SQL instance (Admin API, an operation the
worker polls) and its only user, made over MySQL as the platform's admin user. Users made through the
Admin API are members of cloudsqlsuperuser and could read every tenant's database; this one holds
ALL on its own database and nothing else."""

from typing import Any

import pymysql
from googleapiclient.errors import HttpError

from sites.runtimes import mysql
from sites.runtimes.cloudrun import clients, names
from sites.runtimes.cloudrun.config import CloudConfig, config
from sites.runtimes.cloudrun.errors import cloud_call, describe, status_of
from sites.spec import Done, Pending, SiteSpec, StepError, StepResult

HANDLE = "cloudsql-operation:"
WAIT = "cloudsql-wait:"
WAIT_CHECKS = 200
# Cloud SQL sees a Cloud Run instance's connection as coming through its proxy: any host.
USER_HOST = "%"


def _get_database(cfg: CloudConfig, name: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = (
            clients.sqladmin()
            .databases()
            .get(project=cfg.project, instance=cfg.sql_instance, database=name)
            .execute(num_retries=2)
        )
    except Exception as exc:
        if status_of(exc) == 404:
            return None
        raise
    return found


def _operation(cfg: CloudConfig, name: str) -> dict[str, Any]:
    found: dict[str, Any] = clients.sqladmin().operations().get(project=cfg.project, operation=name).execute()
    return found


def _finished(operation: dict[str, Any], what: str) -> bool:
    """Whether a Cloud SQL operation is over; its error, if it ended in one, as a StepError."""
    if operation.get("status") != "DONE":
        return False
    problems = (operation.get("error") or {}).get("errors") or []
    if problems:
        said = "; ".join(f"{p.get('code', '')}: {p.get('message', '')}" for p in problems)
        raise StepError(f"{what} failed in Cloud SQL ({said[:300]}).")
    return True


def _busy(exc: HttpError) -> bool:
    """Cloud SQL runs one administrative operation at a time per instance: 409 operationInProgress."""
    return status_of(exc) == 409


def _waiting(handle: str | None, name: str, what: str) -> Pending:
    """Ask again later, without a known operation (the instance is busy, or the operation's name was
    lost with a killed worker); a bounded number of times."""
    waited = int(handle.removeprefix(WAIT)) if handle and handle.startswith(WAIT) else 0
    if waited >= WAIT_CHECKS:
        raise StepError(f"Cloud SQL was still busy {what} {name} after {waited} checks.")
    return Pending(
        handle=f"{WAIT}{waited + 1}",
        detail=f"Cloud SQL is busy {what} {name}",
        poll_after_seconds=config().poll_seconds,
    )


def ensure(spec: SiteSpec, handle: str | None) -> StepResult:
    cfg = config()
    name = names.database_name(spec)
    with cloud_call(f"creating the database {name} in Cloud SQL instance {cfg.sql_instance}"):
        if handle and handle.startswith(HANDLE):
            if not _finished(_operation(cfg, handle.removeprefix(HANDLE)), f"Creating the database {name}"):
                return Pending(
                    handle=handle, detail=f"Cloud SQL is creating {name}", poll_after_seconds=cfg.poll_seconds
                )
        elif _get_database(cfg, name) is None:
            body = {"name": name, "charset": "utf8mb4", "collation": "utf8mb4_unicode_ci"}
            try:
                databases = clients.sqladmin().databases()
                started = databases.insert(project=cfg.project, instance=cfg.sql_instance, body=body).execute()
            except HttpError as exc:
                # Busy with another site's operation, or already being made by an operation whose
                # name was lost (Cloud SQL says "database exists" with a 400): look again later.
                if _busy(exc) or (status_of(exc) == 400 and "exists" in describe(exc)[1]):
                    return _waiting(handle, name, "creating")
                raise
            if not _finished(started, f"Creating the database {name}"):
                return Pending(
                    handle=HANDLE + started["name"],
                    detail=f"Cloud SQL is creating the database {name}",
                    poll_after_seconds=cfg.poll_seconds,
                )
    ensure_user(cfg, name, spec.secrets["DB_PASSWORD"])
    return Done(f"database {name} in {cfg.sql_instance}, with a user granted on it alone")


def admin(cfg: CloudConfig) -> Any:
    return mysql.admin_connection(cfg.sql_admin_url, "SITES_CLOUDSQL_ADMIN_URL")


def ensure_user(cfg: CloudConfig, name: str, password: str) -> None:
    """Create or converge the user: the password always ends up `password`, the grant only `name`.*."""
    try:
        with admin(cfg) as connection, connection.cursor() as cursor:
            cursor.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (name, USER_HOST, password))
            cursor.execute("ALTER USER %s@%s IDENTIFIED BY %s", (name, USER_HOST, password))
            # In a GRANT's database name `_` is a wildcard: escaped, the grant names this database only.
            escaped = name.replace("_", "\\_")
            cursor.execute(f"GRANT ALL PRIVILEGES ON `{escaped}`.* TO %s@%s", (name, USER_HOST))
    except pymysql.MySQLError as exc:
        raise StepError(f"Making the database user {name} over SITES_CLOUDSQL_ADMIN_URL failed: {exc}.") from exc


def user_exists(cfg: CloudConfig, name: str) -> bool:
    with admin(cfg) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s AND Host = %s", (name, USER_HOST))
        return bool(mysql.one_value(cursor))


def remove(spec: SiteSpec, handle: str | None) -> Pending | None:
    """The user first (nothing can log in any more), then the database, an operation polled."""
    cfg = config()
    name = names.database_name(spec)
    try:
        with admin(cfg) as connection, connection.cursor() as cursor:
            cursor.execute("DROP USER IF EXISTS %s@%s", (name, USER_HOST))
    except pymysql.MySQLError as exc:
        raise StepError(f"Removing the database user {name} failed: {exc}.") from exc
    with cloud_call(f"deleting the database {name} from Cloud SQL"):
        if handle and handle.startswith(HANDLE):
            finished = _finished(_operation(cfg, handle.removeprefix(HANDLE)), f"Deleting the database {name}")
        elif _get_database(cfg, name) is None:
            return None
        else:
            try:
                databases = clients.sqladmin().databases()
                started = databases.delete(project=cfg.project, instance=cfg.sql_instance, database=name).execute()
            except HttpError as exc:
                if _busy(exc):
                    return _waiting(handle, name, "deleting")
                raise
            finished, handle = _finished(started, f"Deleting the database {name}"), HANDLE + started["name"]
    if finished:
        return None
    return Pending(
        handle=handle, detail=f"Cloud SQL is deleting the database {name}", poll_after_seconds=cfg.poll_seconds
    )


def present(spec: SiteSpec) -> bool:
    cfg = config()
    name = names.database_name(spec)
    with cloud_call(f"looking for the database {name}"):
        return _get_database(cfg, name) is not None and user_exists(cfg, name)
