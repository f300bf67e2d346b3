"""A MariaDB database and user per site, granted on that database only."""

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import unquote, urlsplit

import pymysql
from django.conf import settings

# The site's PHP connects over TCP to 127.0.0.1, which MariaDB may see as either host name.
SITE_USER_HOSTS = ("localhost", "127.0.0.1")


def database_name(key: str) -> str:
    return f"wp_{key}"


@contextmanager
def admin_connection() -> Iterator[pymysql.connections.Connection]:
    url = urlsplit(settings.SITES_MARIADB_URL)
    connection = pymysql.connect(
        host=url.hostname or "127.0.0.1",
        port=url.port or 3306,
        user=unquote(url.username or "root"),
        password=unquote(url.password or ""),
        autocommit=True,
        connect_timeout=5,
    )
    try:
        yield connection
    finally:
        connection.close()


def ensure_database(key: str, password: str) -> None:
    """Create (or converge) the database and its user; the password always ends up `password`."""
    name = database_name(key)
    with admin_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        for host in SITE_USER_HOSTS:
            cursor.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (name, host, password))
            cursor.execute("ALTER USER %s@%s IDENTIFIED BY %s", (name, host, password))
            cursor.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@%s", (name, host))


def database_exists(key: str) -> bool:
    name = database_name(key)
    with admin_connection() as conn, conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = %s", (name,))
        has_database = cursor.fetchone()[0] == 1
        cursor.execute("SELECT COUNT(*) FROM mysql.user WHERE User = %s", (name,))
        has_users = cursor.fetchone()[0] == len(SITE_USER_HOSTS)
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
