"""Kill the worker in the middle of provisioning: the site still ends ready, untouched by anyone."""

import os
import signal
import subprocess
import sys
import uuid

import pytest
import redis
from django.conf import settings
from django.utils import timezone
from django_tenants.utils import tenant_context

from aipress.celery import app
from conftest import database_url_of_this_run
from kernel.testing import wait_until
from sites import pipeline, tasks
from sites.inventory.models import SiteRecord
from sites.models import Site, SiteEvent, SiteOperation
from sites.runtimes.local import health
from sites.runtimes.local.runtime import LocalRuntime
from sites.tests.conftest import tear_down
from sites.tests.factories import requested_site

pytestmark = pytest.mark.django_db(transaction=True)


def _worker(queue: str) -> subprocess.Popen:
    """A real worker process, configured like this test run, consuming only `queue`."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url_of_this_run(),
        "DATABASE_POOL": "0",
        "CELERY_QUEUE": queue,
        "SITES_ROOT": str(settings.SITES_ROOT),
        "SITES_RUNTIME_DIR": str(settings.SITES_RUNTIME_DIR),
        "SITES_PORT": str(settings.SITES_PORT),
        "SITES_KEY_PREFIX": settings.SITES_KEY_PREFIX,
        "SITES_SECRET_KEYS": ",".join(settings.SITES_SECRET_KEYS),
        "SITES_MARIADB_URL": settings.SITES_MARIADB_URL,
        "SITES_STEP_STALE_SECONDS": str(settings.SITES_STEP_STALE_SECONDS),
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "celery", "-A", "aipress", "worker", "--pool", "solo", "-Q", queue]
    return subprocess.Popen(command, cwd=settings.BASE_DIR, env=env, start_new_session=True)


def test_killed_worker_mid_provisioning_still_ends_ready(make_tenant, site_daemons, settings):
    tenant = make_tenant(slug="acme")
    queue = f"aipress-crash-{uuid.uuid4().hex[:8]}"
    default_queue = app.conf.task_default_queue
    app.conf.task_default_queue = queue  # this test's tasks go to its own worker processes only
    first = _worker(queue)
    second = None
    try:
        site = requested_site(tenant, "phoenix", "Phoenix")

        def reached_pool() -> bool:
            with tenant_context(tenant):
                return SiteOperation.objects.get(site=site).step_index >= 4

        wait_until(reached_pool, timeout=60, what="the pool step")
        os.killpg(first.pid, signal.SIGKILL)  # no warm shutdown, no ack: as if the machine died
        first.wait(timeout=10)
        with tenant_context(tenant):
            stuck = Site.objects.get(pk=site.pk)
        assert stuck.status == "provisioning"

        settings.SITES_STEP_STALE_SECONDS = 0
        SiteRecord.objects.filter(slug="phoenix").update(attention_at=timezone.now())
        second = _worker(queue)
        assert tasks.sites_reconcile()["advanced"] == 1

        def ready() -> bool:
            with tenant_context(tenant):
                return Site.objects.get(pk=site.pk).status == "ready"

        wait_until(ready, timeout=90, what="the site to become ready")
        assert health.fetch("phoenix--acme.sites.localhost", "/")[0] == 200
        with tenant_context(tenant):
            steps = list(SiteEvent.objects.filter(site=site, outcome="succeeded").values_list("step", flat=True))
            taken_over = SiteEvent.objects.filter(site=site, detail__startswith="taken over").exists()
        assert {"install", "health"} <= set(steps)
        assert taken_over
    finally:
        app.conf.task_default_queue = default_queue
        for worker in (first, second):
            if worker is not None and worker.poll() is None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(timeout=30)
        with tenant_context(tenant):
            for leftover in Site.objects.all():
                tear_down(LocalRuntime(), pipeline.site_spec(site=leftover, tenant=tenant))
        redis.Redis.from_url(settings.REDIS_URL).delete(queue)
