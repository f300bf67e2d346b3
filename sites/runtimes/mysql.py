"""MySQL admin connections from a URL (mysql://USER:PASSWORD@HOST:PORT/ or ?unix_socket=PATH), shared
by the runtimes that make each site's database user: locally on the sites' MariaDB, on Google Cloud
on the shared Cloud SQL instance."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import pymysql
from django.core.exceptions import ImproperlyConfigured


def connection_parameters(url: str, variable: str) -> dict[str, Any]:
    """pymysql's arguments for `url`; `variable` names the setting in errors."""
    if not url:
        raise ImproperlyConfigured(f"{variable} is not set.")
    parts = urlsplit(url)
    user, password = unquote(parts.username or ""), unquote(parts.password or "")
    if not user or not password:
        raise ImproperlyConfigured(
            f"{variable} must name an admin account with a password: an account without one "
            "(root on a developer's MariaDB) is open to every site's PHP too."
        )
    socket = parse_qs(parts.query).get("unix_socket", [""])[0]
    where: dict[str, Any] = (
        {"unix_socket": socket} if socket else {"host": parts.hostname or "127.0.0.1", "port": parts.port or 3306}
    )
    return {**where, "user": user, "password": password}


@contextmanager
def admin_connection(url: str, variable: str) -> Iterator[pymysql.connections.Connection]:
    connection = pymysql.connect(**connection_parameters(url, variable), autocommit=True, connect_timeout=5)
    try:
        yield connection
    finally:
        connection.close()


def one_value(cursor: Any) -> Any:
    """The single value a one-row, one-column query returned."""
    row = cursor.fetchone()
    if row is None:
        raise RuntimeError("MySQL returned no row where one was expected.")
    return row[0]
