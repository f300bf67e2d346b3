"""Liveness (/healthz) and readiness (/readyz: database, Redis and the Celery broker), answered by a
middleware near the top of the chain: a load balancer's probe touches no tenant, session or key, and
still answers when those are broken."""

import time
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from django.core.signals import setting_changed
from django.db import connection
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache

from kernel import drivers

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


DRIVER_REPORT_SECONDS = 15.0
_driver_report: dict[str, tuple[float, dict[str, dict[str, object]]]] = {}  # the last one, by "last"


def _drivers() -> dict[str, dict[str, object]]:
    """Each concern's chosen driver and whether what it drives answers, at most every 15 s per process
    (a public endpoint must not open a connection to every driver on every hit). Only the kind of a
    failure is shown here, except for missing configuration, which names the variables to set (names,
    never values); `manage.py setup_platform` prints the whole reason."""
    now = time.monotonic()
    last = _driver_report.get("last")
    if last is not None and now - last[0] < DRIVER_REPORT_SECONDS:
        return last[1]
    report = {
        report.concern: {
            "driver": report.driver,
            "reachable": report.reachable,
            **({} if report.reachable else {"problem": _problem(report.detail)}),
        }
        for report in drivers.report()
    }
    _driver_report["last"] = (now, report)
    return report


def _problem(detail: str) -> str:
    kind = detail.split(":", 1)[0]
    return detail if kind == "ImproperlyConfigured" else kind


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """503 when the control plane itself cannot work (database, Redis, broker). Drivers are reported
    but do not make it unready: a web process serves the portal and the API whether or not, say, the
    sites' runtime on this host is up, and a load balancer must not stop routing to it for that."""
    results: dict[str, str] = {}
    failing: list[str] = []
    for name, check in CHECKS.items():
        try:
            check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"; the type goes in the answer
            results[name] = f"unreachable: {type(exc).__name__}"
            failing.append(name)
    body: dict[str, object] = {"checks": results, "drivers": _drivers()}
    if failing:
        return JsonResponse({"status": "unavailable", "failing": failing, **body}, status=503)
    return JsonResponse({"status": "ok", **body})


HEALTH_VIEWS: dict[str, Callable[[HttpRequest], HttpResponse]] = {"/healthz": healthz, "/readyz": readyz}


class HealthMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        view = HEALTH_VIEWS.get(request.path_info)
        if view is not None and request.method in ("GET", "HEAD"):
            return view(request)
        return self.get_response(request)


@receiver(setting_changed)
def _forget_driver_report(*, setting: str, **kwargs: Any) -> None:
    if setting == "DRIVERS":
        _driver_report.clear()
