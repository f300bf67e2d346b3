"""Sites on the in-memory runtime with the test as the worker: for the tests of apps above sites
(chat, billing) whose subject is their own logic, not the runtime (the local runtime's own tests
prove that)."""

from collections.abc import Iterator
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from sites import pipeline
from sites.models import OperationState, SiteOperation
from sites.runtimes import memory
from tenants.models import Tenant


@pytest.fixture
def memory_sites(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, float | None]]]:
    """New sites on the in-memory runtime; nothing queued reaches Celery (what was asked is listed)."""
    settings.DRIVERS = {**settings.DRIVERS, "runtime": "memory", "assistant": "local"}
    asked: list[tuple[int, float | None]] = []
    monkeypatch.setattr(pipeline, "kick", lambda tenant, site_id, after=None: asked.append((site_id, after)))
    memory.reset()
    yield asked
    memory.reset()


def work(tenant: Tenant) -> None:
    """Be the worker: run every unfinished operation of the tenant's sites to its end."""
    with tenant_context(tenant):
        busy = set(
            SiteOperation.objects.filter(
                state__in=(OperationState.QUEUED, OperationState.RUNNING, OperationState.WAITING)
            ).values_list("site_id", flat=True)
        )
    for site_id in busy:
        with tenant_context(tenant):
            pipeline.advance(tenant=tenant, site_id=site_id)
