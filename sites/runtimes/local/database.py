"""A MariaDB database and user per site, granted on that database only."""

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import pymysql
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from sites.runtimes import mysql

# The site's PHP connects over TCP to 127.0.0.1, which MariaDB may see as either host name.
SITE_USER_HOSTS = ("localhost", "127.0.0.1")


def database_name(key: str) -> str:
    return f"wp_{key}"


def sites_db_host() -> str:
    """The host:port a site's PHP uses for its database."""
    if settings.SITES_DB_HOST:
        return settings.SITES_DB_HOST
    url = urlsplit(settings.SITES_MARIADB_URL)
    return f"{url.hostname or '127.0.0.1'}:{url.port or 3306}"


@contextmanager
def admin_connection() -> Iterator[pymysql.connections.Connection]:
    if not settings.SITES_MARIADB_URL:
        raise ImproperlyConfigured(
            "SITES_MARIADB_URL is not set: `make run` starts the sites' MariaDB and writes it to var/env."
        )
    with mysql.admin_connection(settings.SITES_MARIADB_URL, "SITES_MARIADB_URL") as connection:
        yield connection


def ensure_database(key: str, password: str) -> None:
    """Create (or converge) the database and its user; the password always ends up `password`."""
    name = database_name(key)
    escaped = name.replace("_", "\\_")
    with admin_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        for host in SITE_USER_HOSTS:
            cursor.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (name, host, password))
            cursor.execute("ALTER USER %s@%s IDENTIFIED BY %s", (name, host, password))
            # `_` is a wildcard in a grant's database name: escaped, the grant names this database only.
            cursor.execute(f"GRANT ALL PRIVILEGES ON `{escaped}`.* TO %s@%s", (name, host))


one_value = mysql.one_value
_count = one_value


def database_exists(key: str) -> bool:
    name = database_name(key)
    with admin_connection() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
        has_database = _count(cursor) == 1
        cursor.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s", (name,))
        has_users = _count(cursor) == len(SITE_USER_HOSTS)
    return has_database and has_users


def drop_database(key: str) -> None:
    name = database_name(key)
    with admin_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        for host in SITE_USER_HOSTS:
            cursor.execute("DROP USER IF EXISTS %s@%s", (name, host))


def reset_database(key: str) -> None:
    """Empty the site's database (drop and create it again); the user and its grant stay."""
    name = database_name(key)
    with admin_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
