"""Liveness (/healthz) and readiness (/readyz: database, Redis and the Celery broker)."""

from collections.abc import Callable

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

READINESS_TIMEOUT_SECONDS = 2


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")


def _check_redis_url(url: str) -> None:
    client = redis.Redis.from_url(
        url, socket_connect_timeout=READINESS_TIMEOUT_SECONDS, socket_timeout=READINESS_TIMEOUT_SECONDS
    )
    try:
        client.ping()
    finally:
        client.close()


def _check_redis() -> None:
    _check_redis_url(settings.REDIS_URL)


def _check_broker() -> None:
    from aipress.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=READINESS_TIMEOUT_SECONDS)


CHECKS: dict[str, Callable[[], None]] = {"database": _check_database, "redis": _check_redis, "broker": _check_broker}


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    results: dict[str, str] = {}
    failing: list[str] = []
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the type goes in the answer
            results[name] = f"unreachable: {type(exc).__name__}"
            failing.append(name)
    if failing:
        return JsonResponse({"status": "unavailable", "failing": failing, "checks": results}, status=503)
    return JsonResponse({"status": "ok", "checks": results})
