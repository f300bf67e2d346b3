"""Shared set-up of the benchmarks: a fresh database of their own, migrated like production."""

import atexit
import os
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_database_url(name: str) -> str:
    """DATABASE_URL (or the one `make run` found, in var/env) with the database renamed to `name`."""
    import environ

    env = environ.Env()
    environ.Env.read_env(ROOT / "var" / "env", overwrite=False)
    base = env("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/aipress")
    return urlunsplit(urlsplit(base)._replace(path=f"/{name}"))


def fresh_database(name: str) -> str:
    import psycopg

    url = bench_database_url(name)
    admin = urlunsplit(urlsplit(url)._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [name],
        )
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return url


def django_on(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    # Tasks the services queue go to a queue of the benchmark's own, purged on exit, so a running
    # `make run` worker never sees them.
    os.environ["CELERY_QUEUE"] = "aipress-bench"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aipress.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("setup_platform", verbosity=0)
    atexit.register(_purge_bench_queue)


def _purge_bench_queue() -> None:
    from aipress.celery import app

    app.control.purge()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = (len(ordered) - 1) * pct / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)
