"""The pipeline's own logic, fast, with the in-memory runtime (sites.runtimes.memory): the order of
steps, a worker killed at any step, retries, long work polled by handle, one operation at a time per
site, deletion overtaking the rest. The real runtime's tests (test_local_*, test_api_sites) stay."""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_tenants.utils import tenant_context

from kernel.errors import Conflict
from kernel.testing import wait_until
from sites import pipeline, services, tasks
from sites.inventory.models import SiteRecord
from sites.models import OperationState, Site, SiteEvent, SiteOperation, SiteStatus
from sites.runtimes import memory
from sites.tests.factories import ACTOR, requested_site
from tenants.models import Tenant
from tenants.tests.factories import TenantFactory

STEP_NAMES = [step.name for step in pipeline.STEPS]
# The steps the runtime does (the secret store does "secrets"): what the in-memory runtime sees.
RUNTIME_STEPS = [step.name for step in pipeline.STEPS if step.concern == "runtime"]


@pytest.fixture
def kicks(monkeypatch):
    """Workers are asked for by kick(); here the test is the worker, and records what was asked."""
    asked: list[tuple[int, float | None]] = []
    monkeypatch.setattr(pipeline, "kick", lambda tenant, site_id, after=None: asked.append((site_id, after)))
    return asked


@pytest.fixture
def in_memory(settings, kicks):
    settings.DRIVERS = {**settings.DRIVERS, "runtime": "memory"}
    memory.reset()
    yield memory
    memory.reset()


@pytest.fixture
def acme(db, in_memory):
    return TenantFactory(slug="acme")


def _advance(tenant: Tenant, site: Site) -> str:
    with tenant_context(tenant):
        return pipeline.advance(tenant=tenant, site_id=site.pk)


def _reload(tenant: Tenant, site: Site) -> Site:
    with tenant_context(tenant):
        return Site.objects.get(pk=site.pk)


def _operations(tenant: Tenant, site: Site) -> list[tuple[str, str]]:
    with tenant_context(tenant):
        return list(SiteOperation.objects.filter(site=site).order_by("id").values_list("kind", "state"))


def _ensured(site_key: str) -> list[str]:
    return [step for key, action, step, _ in memory.calls if key == site_key and action == "ensure"]


def _key(tenant: Tenant, site: Site) -> str:
    with tenant_context(tenant):
        return pipeline.site_spec(site=site, tenant=tenant).key


def test_a_create_runs_every_step_in_order_and_the_site_is_ready(acme):
    site = requested_site(acme, "blog")
    assert _reload(acme, site).status == SiteStatus.REQUESTED
    assert _advance(acme, site) == "idle"
    assert _ensured(_key(acme, site)) == RUNTIME_STEPS
    assert _reload(acme, site).status == SiteStatus.READY
    assert _operations(acme, site) == [("create", "succeeded")]
    with tenant_context(acme):
        succeeded = list(SiteEvent.objects.filter(site=site, operation__isnull=False).values_list("step", flat=True))
        assert succeeded == STEP_NAMES
        assert not site.secrets.filter(name="WP_ADMIN_PASSWORD").exists()  # gone once WordPress has it
    assert SiteRecord.objects.get(tenant=acme, slug="blog").attention_at is None


@pytest.mark.parametrize("dies_after", STEP_NAMES)
def test_a_worker_killed_at_any_step_is_taken_over_and_the_site_ends_ready(acme, settings, monkeypatch, dies_after):
    """Killed after the step's work, before it was recorded: the worst moment for every step."""
    site = requested_site(acme, "blog")
    step_done = pipeline._step_done

    def killed_after(operation, tenant, worker, *, step, **kwargs):
        if step == dies_after:
            monkeypatch.setattr(pipeline, "_step_done", step_done)
            raise memory.WorkerDied(step)
        return step_done(operation, tenant, worker, step=step, **kwargs)

    monkeypatch.setattr(pipeline, "_step_done", killed_after)
    with pytest.raises(memory.WorkerDied):
        _advance(acme, site)
    assert _operations(acme, site) == [("create", "running")]
    # A live worker's operation is not taken over...
    assert _advance(acme, site) == "idle"
    assert _reload(acme, site).status == SiteStatus.PROVISIONING
    # ...a dead one's is, once its heartbeat is stale: from the step it was at.
    stale = timezone.now() - timedelta(seconds=settings.SITES_STEP_STALE_SECONDS + 1)
    with tenant_context(acme):
        SiteOperation.objects.update(heartbeat_at=stale)
    assert _advance(acme, site) == "idle"
    assert _reload(acme, site).status == SiteStatus.READY
    at = STEP_NAMES.index(dies_after)
    again = [step for step in [*STEP_NAMES[: at + 1], *STEP_NAMES[at:]] if step in RUNTIME_STEPS]
    assert _ensured(_key(acme, site)) == again  # only the interrupted step ran twice
    with tenant_context(acme):
        assert SiteEvent.objects.filter(site=site, outcome="started", detail__startswith="taken over").count() == 1


def test_the_reconciler_finds_a_stuck_site_through_the_inventory(acme, settings, monkeypatch):
    sent = []
    monkeypatch.setattr(
        tasks, "send_in_tenant", lambda task, tenant, *args, **kw: sent.append((task.name, tenant.slug, args))
    )
    site = requested_site(acme, "blog")
    assert tasks.sites_reconcile() == {"advanced": 0, "checked": 0}  # not due yet
    SiteRecord.objects.update(attention_at=timezone.now() - timedelta(seconds=1))
    assert tasks.sites_reconcile()["advanced"] == 1
    assert sent == [("sites.tasks.site_operations_advance", "acme", (site.pk,))]
    # Asked once: the next run does not ask again until the deadline passes again.
    assert tasks.sites_reconcile()["advanced"] == 0


def test_a_failing_step_is_retried_with_backoff_then_the_operation_fails(acme, kicks):
    site = requested_site(acme, "blog")
    memory.script.failures["pool"] = pipeline.STEP_RETRIES + 1
    assert _advance(acme, site) == "waiting"
    assert kicks[-1] == (site.pk, 2.0)
    for attempt in range(2, pipeline.STEP_RETRIES + 2):
        with tenant_context(acme):
            SiteOperation.objects.update(poll_at=timezone.now())
        _advance(acme, site)
        if attempt <= pipeline.STEP_RETRIES:
            assert kicks[-1] == (site.pk, 2.0**attempt)
    assert _operations(acme, site) == [("create", "failed")]
    failed = _reload(acme, site)
    assert failed.status == SiteStatus.FAILED
    assert "pool failed on purpose" in failed.last_error
    # Retried by the person: every step again, and ready.
    services.site_retry(tenant=acme, actor=ACTOR, name="blog")
    _advance(acme, site)
    assert _reload(acme, site).status == SiteStatus.READY


def test_a_failed_update_then_a_retry_ends_ready_not_provisioning_forever(acme):
    site = requested_site(acme, "blog")
    _advance(acme, site)
    services.site_update(tenant=acme, actor=ACTOR, name="blog", title="New title")
    memory.script.failures["install"] = pipeline.STEP_RETRIES + 1
    for _ in range(pipeline.STEP_RETRIES + 1):
        _advance(acme, site)
        with tenant_context(acme):
            SiteOperation.objects.filter(state=OperationState.WAITING).update(poll_at=timezone.now())
    assert _reload(acme, site).status == SiteStatus.FAILED
    services.site_retry(tenant=acme, actor=ACTOR, name="blog")
    _advance(acme, site)
    retried = _reload(acme, site)
    assert (retried.status, retried.title) == (SiteStatus.READY, "New title")
    assert _operations(acme, site)[-1] == ("retry", "succeeded")


def test_long_work_is_polled_with_its_handle_never_waited_for(acme, kicks):
    site = requested_site(acme, "blog")
    memory.script.pending["database"] = 2
    assert _advance(acme, site) == "waiting"
    assert _operations(acme, site) == [("create", "waiting")]
    with tenant_context(acme):
        handle = SiteOperation.objects.get().handle
    assert handle.startswith("database-operation-")
    _advance(acme, site)  # asks again with the handle; still running
    _advance(acme, site)
    assert _reload(acme, site).status == SiteStatus.READY
    database_calls = [handle for key, _, step, handle in memory.calls if step == "database"]
    assert database_calls[0] is None and database_calls[1] == handle and database_calls[2] is not None


def test_a_second_change_while_one_runs_is_refused_and_env_changes_queue(acme):
    site = requested_site(acme, "blog")
    with pytest.raises(Conflict, match="busy: its create operation is queued"):
        services.site_suspend(tenant=acme, actor=ACTOR, name="blog")
    services.env_set(tenant=acme, actor=ACTOR, name="blog", key="SHOP", value="on", sensitive=False)
    services.env_set(tenant=acme, actor=ACTOR, name="blog", key="CURRENCY", value="EUR", sensitive=False)
    assert _operations(acme, site) == [("create", "queued"), ("env", "queued")]  # one env operation for both
    _advance(acme, site)
    assert _operations(acme, site) == [("create", "succeeded"), ("env", "succeeded")]
    services.site_suspend(tenant=acme, actor=ACTOR, name="blog")
    _advance(acme, site)
    assert _reload(acme, site).status == SiteStatus.SUSPENDED
    with pytest.raises(Conflict, match="cannot be suspended"):
        services.site_suspend(tenant=acme, actor=ACTOR, name="blog")


def test_a_change_while_an_update_waits_to_start_joins_it_and_a_running_one_refuses(acme):
    site = requested_site(acme, "blog")
    _advance(acme, site)
    first = services.site_update(tenant=acme, actor=ACTOR, name="blog", title="First")
    joined = services.site_update(tenant=acme, actor=ACTOR, name="blog", max_php_workers=2)
    assert joined.pk == first.pk  # one update, not a refusal
    assert joined.params == {"title": "First", "max_php_workers": 2}
    with tenant_context(acme):  # the worker starts it: from then on a change waits its turn
        SiteOperation.objects.filter(pk=first.pk).update(state=OperationState.RUNNING, heartbeat_at=timezone.now())
    with pytest.raises(Conflict, match="busy: its update operation is running"):
        services.site_update(tenant=acme, actor=ACTOR, name="blog", title="Third")
    with tenant_context(acme):
        SiteOperation.objects.filter(pk=first.pk).update(state=OperationState.QUEUED, heartbeat_at=None)
    _advance(acme, site)
    changed = _reload(acme, site)
    assert (changed.title, changed.max_php_workers, changed.status) == ("First", 2, SiteStatus.READY)
    assert _operations(acme, site) == [("create", "succeeded"), ("update", "succeeded")]


def test_delete_cancels_what_waits_and_stops_what_runs(acme):
    site = requested_site(acme, "blog")
    memory.script.failures["server"] = 1  # the create will wait to retry its server step
    _advance(acme, site)
    services.env_set(tenant=acme, actor=ACTOR, name="blog", key="SHOP", value="on", sensitive=False)
    services.site_delete(tenant=acme, actor=ACTOR, name="blog")
    assert _reload(acme, site).status == SiteStatus.DELETING
    _advance(acme, site)
    assert _operations(acme, site) == [("create", "cancelled"), ("env", "cancelled"), ("delete", "succeeded")]
    assert _reload(acme, site).status == SiteStatus.DELETED
    removed = [step for key, action, step, _ in memory.calls if action == "remove"]
    assert removed == list(reversed(RUNTIME_STEPS))
    assert not SiteRecord.objects.filter(tenant=acme).exists()


def test_reusing_a_deleted_sites_name_keeps_the_old_sites_history(acme):
    first = requested_site(acme, "blog")
    _advance(acme, first)
    services.site_delete(tenant=acme, actor=ACTOR, name="blog")
    _advance(acme, first)
    second = requested_site(acme, "blog")
    _advance(acme, second)
    with tenant_context(acme):
        assert first.pk != second.pk
        assert Site.objects.get(pk=first.pk).status == SiteStatus.DELETED
        assert SiteEvent.objects.filter(site_id=first.pk, step="install").exists()
        assert SiteEvent.objects.filter(site_id=second.pk, step="install").exists()
    assert _key(acme, first) != _key(acme, second)


def test_the_drift_check_repairs_what_went_missing(acme):
    site = requested_site(acme, "blog")
    _advance(acme, site)
    memory.pieces[_key(acme, site)].discard("server")  # removed by hand
    with tenant_context(acme):
        connection.set_tenant(acme)
        assert tasks.site_check_drift(site.pk) == ["server"]
    assert _operations(acme, site)[-1] == ("repair", "queued")
    _advance(acme, site)
    assert "server" in memory.pieces[_key(acme, site)]
    with tenant_context(acme):
        assert SiteEvent.objects.filter(site=site, outcome="repaired", step="server").exists()
    assert _reload(acme, site).status == SiteStatus.READY


@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_never_run_one_sites_steps_together(in_memory):
    tenant = TenantFactory(slug="busy")
    try:
        site = requested_site(tenant, "blog")
        services.env_set(tenant=tenant, actor=ACTOR, name="blog", key="A", value="1", sensitive=False)
        release = threading.Event()
        memory.script.hold["files"] = release
        results = []

        def worker():
            results.append(_advance(tenant, site))

        first = threading.Thread(target=worker)
        first.start()
        wait_until(lambda: any(step == "files" for _, _, step, _ in memory.calls), what="the first worker at files")
        others = [threading.Thread(target=worker) for _ in range(2)]
        for thread in others:
            thread.start()
        for thread in others:
            thread.join(timeout=30)
        assert results == ["idle", "idle"]  # the operation is claimed: they leave it alone
        release.set()
        first.join(timeout=30)
        key = _key(tenant, site)
        assert memory.most_at_once[key] == 1
        assert _ensured(key) == [*RUNTIME_STEPS, "pool"]  # create, then env: each step once
        assert _operations(tenant, site) == [("create", "succeeded"), ("env", "succeeded")]
    finally:
        from tenants.schema import drop_tenant_schema

        drop_tenant_schema(tenant.schema_name)


@pytest.mark.django_db(transaction=True)
def test_a_site_deleted_while_its_last_step_runs_is_deleted_not_stuck(in_memory):
    tenant = TenantFactory(slug="racing")
    try:
        site = requested_site(tenant, "blog")
        release = threading.Event()
        memory.script.hold["health"] = release
        worker = threading.Thread(target=lambda: _advance(tenant, site))
        worker.start()
        wait_until(lambda: any(step == "health" for _, _, step, _ in memory.calls), what="the last step")
        services.site_delete(tenant=tenant, actor=ACTOR, name="blog")
        release.set()
        worker.join(timeout=30)
        _advance(tenant, site)  # the delete, queued behind
        assert _operations(tenant, site) == [("create", "cancelled"), ("delete", "succeeded")]
        assert _reload(tenant, site).status == SiteStatus.DELETED
    finally:
        from tenants.schema import drop_tenant_schema

        drop_tenant_schema(tenant.schema_name)


def test_no_site_is_made_in_an_organisation_that_is_not_active(acme):
    from tenants.models import TenantStatus

    Tenant.objects.filter(pk=acme.pk).update(status=TenantStatus.DELETING)
    acme.refresh_from_db()
    with pytest.raises(Conflict, match="is deleting: no new site"):
        requested_site(acme, "late")


def test_a_tenants_suspension_catches_busy_sites_and_spares_a_members_own_pause(acme):
    busy = requested_site(acme, "busy")  # still being created
    paused = requested_site(acme, "paused")
    _advance(acme, paused)
    services.site_suspend(tenant=acme, actor=ACTOR, name="paused")  # a member's pause, not yet run
    services.sites_follow_tenant(tenant=acme, suspended=True)
    _advance(acme, busy)
    _advance(acme, paused)
    assert (_reload(acme, busy).status, _reload(acme, paused).status) == ("suspended", "suspended")
    services.sites_follow_tenant(tenant=acme, suspended=False)
    _advance(acme, busy)
    _advance(acme, paused)
    assert (_reload(acme, busy).status, _reload(acme, paused).status) == ("ready", "suspended")
