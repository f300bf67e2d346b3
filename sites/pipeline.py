"""The pipeline: every change to a site is a SiteOperation, run here, on the worker, step by step.

The steps are named and ordered; each is bound to a driver concern (sites.drivers) that can ensure,
remove and report its piece, idempotently. An operation's plan is which steps it ensures or removes:

    create, retry, repair   ensure every step
    update                  ensure pool, install (title), health
    env                     ensure secrets, pool
    domains                 ensure pool, server (the site's custom hostnames)
    suspend, resume         ensure server (and health when resuming)
    delete                  remove every step, last first

One site's operations run one at a time, oldest first. A worker claims the oldest unfinished one
under the site's row lock, then runs its steps with no lock held and no transaction open, recording
after each step where it is (the operation's step_index), a SiteEvent, and live progress for the
portal and the chat. A step that starts long work (a cloud operation) answers Pending with a handle:
the operation waits, and the worker asks again later. A failed step is tried again with backoff, and
after the last try the operation fails. A worker killed anywhere leaves an operation whose heartbeat
goes stale; the reconciler (sites.tasks) finds it through the public inventory and the next worker
takes it over from its step_index: steps are idempotent, so redoing the interrupted one is harmless.
"""

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from kernel import drivers
from sites import signals
from sites.drivers import RUNTIME, SECRETS, runtime, secret_store
from sites.inventory.models import SiteRecord
from sites.models import (
    TRANSITIONS,
    UNFINISHED_STATES,
    OperationKind,
    OperationState,
    Site,
    SiteEnvVar,
    SiteEvent,
    SiteOperation,
    SiteSecret,
    SiteStatus,
    TenantSecret,
)
from sites.spec import ADMIN_PASSWORD_SECRET, Pending, SiteSpec, StepDriver, StepError, StepResult
from tenants.events import publish_tenant_event
from tenants.models import Tenant

logger = logging.getLogger(__name__)

# The dns app registers this concern; its driver keeps the sites' hostnames in DNS.
DNS_CONCERN = "dns"

# Failed attempts of one step before its operation fails; the waits between them double from 2 s.
STEP_RETRIES = 4


@dataclass(frozen=True)
class Step:
    name: str
    concern: str  # which driver does it: sites.drivers.RUNTIME, SECRETS, or DNS (registered by the dns app)
    label: str


STEPS: tuple[Step, ...] = (
    Step("database", RUNTIME.name, "Database and its user"),
    Step("files", RUNTIME.name, "Files and the site's system user"),
    Step("secrets", SECRETS.name, "Secrets"),
    Step("pool", RUNTIME.name, "PHP pool with the site's environment"),
    Step("server", RUNTIME.name, "Web server"),
    Step("install", RUNTIME.name, "WordPress install"),
    Step("health", RUNTIME.name, "Health check"),
    # Last: the name is published once the site answers (and, removing, withdrawn first).
    Step("hostname", DNS_CONCERN, "Platform hostname in DNS"),
)
STEP_BY_NAME = {step.name: step for step in STEPS}
Action = Literal["ensure", "remove"]

Plan = tuple[tuple[str, Action], ...]
_EVERY_STEP: Plan = tuple((step.name, "ensure") for step in STEPS)
PLANS: dict[str, Plan] = {
    OperationKind.CREATE: _EVERY_STEP,
    OperationKind.RETRY: _EVERY_STEP,
    OperationKind.REPAIR: _EVERY_STEP,
    OperationKind.UPDATE: (("pool", "ensure"), ("install", "ensure"), ("health", "ensure")),
    OperationKind.ENV: (("secrets", "ensure"), ("pool", "ensure")),
    OperationKind.DOMAINS: (("pool", "ensure"), ("server", "ensure")),
    OperationKind.SUSPEND: (("server", "ensure"),),
    OperationKind.RESUME: (("server", "ensure"), ("health", "ensure")),
    OperationKind.DELETE: tuple((step.name, "remove") for step in reversed(STEPS)),
}

# How a site's status moves: when its operation starts, when it succeeds, when it finally fails.
_ON_START: dict[str, str] = {
    OperationKind.CREATE: SiteStatus.PROVISIONING,
    OperationKind.RETRY: SiteStatus.PROVISIONING,
    OperationKind.UPDATE: SiteStatus.UPDATING,
}
_ON_SUCCESS: dict[str, str] = {
    OperationKind.CREATE: SiteStatus.READY,
    OperationKind.RETRY: SiteStatus.READY,
    OperationKind.UPDATE: SiteStatus.READY,
    OperationKind.SUSPEND: SiteStatus.SUSPENDED,
    OperationKind.RESUME: SiteStatus.READY,
    OperationKind.DELETE: SiteStatus.DELETED,
}
_ON_FAILURE: dict[str, str] = {
    OperationKind.CREATE: SiteStatus.FAILED,
    OperationKind.RETRY: SiteStatus.FAILED,
    OperationKind.UPDATE: SiteStatus.FAILED,
}


def plan(kind: str) -> Plan:
    return PLANS[kind]


def driver_of(step: str, site: Site) -> StepDriver:
    """The driver that does `step` for this site (a site stays on the runtime it was made on)."""
    concern = STEP_BY_NAME[step].concern
    if concern == RUNTIME.name:
        return runtime(site.runtime)
    if concern == SECRETS.name:
        return secret_store()
    # A concern an app above registered (dns): the loader checked it against its protocol at start-up.
    found: StepDriver = drivers.driver(concern)
    return found


def lock_site(site_id: int) -> Site | None:
    """The site's row, locked for this transaction. Every transaction that writes a site's rows takes
    this lock first, web requests and workers alike: one order, so they wait for each other instead of
    deadlocking. NO KEY: inserting rows that point at the site (events, operations) stays possible."""
    return Site.objects.select_for_update(no_key=True).filter(pk=site_id).first()


def _stale_after() -> timedelta:
    return timedelta(seconds=settings.SITES_STEP_STALE_SECONDS)


# --- Live progress -------------------------------------------------------------------------------


def operation_payload(site: Site, operation: SiteOperation, **extra: Any) -> dict[str, Any]:
    return {
        "site": site.slug,
        "status": site.status,
        "operation": operation.pk,
        "kind": operation.kind,
        "state": operation.state,
        "step": operation.current_step,
        "step_index": operation.step_index,
        "steps_total": operation.steps_total,
        **extra,
    }


def announce_operation(tenant: Tenant, site: Site, operation: SiteOperation, **extra: Any) -> None:
    """An operation was queued, moved to a step or finished: live to the tenant's members, and to the
    apps above (chat follows the operations its conversations started) once the change commits."""
    payload = operation_payload(site, operation, **extra)
    publish_tenant_event(tenant.pk, "site.operation", payload)
    transaction.on_commit(lambda: signals.send_operation_changed(tenant=tenant, payload=payload))


def _event(
    site: Site,
    tenant: Tenant,
    operation: SiteOperation | None,
    *,
    step: str,
    outcome: str,
    detail: str = "",
    duration_ms: int | None = None,
) -> None:
    SiteEvent.objects.create(
        site=site, operation=operation, step=step, outcome=outcome, detail=detail[:2000], duration_ms=duration_ms
    )
    payload: dict[str, Any] = {
        "site": site.slug,
        "step": step,
        "outcome": outcome,
        "detail": detail[:300],
        "status": site.status,
    }
    if operation is not None:
        payload |= {"operation": operation.pk, "kind": operation.kind, "steps_total": operation.steps_total}
    publish_tenant_event(tenant.pk, "site.progress", payload)


def set_status(site: Site, tenant: Tenant, status: str, *, detail: str = "") -> None:
    """Move a site along its life (only legal moves happen), with its public inventory row."""
    if site.status == status:
        return
    if status not in TRANSITIONS[site.status]:
        raise ValueError(f"A site that is {site.status} cannot become {status}.")
    site.status = status
    Site.objects.filter(pk=site.pk).update(status=status, updated_at=timezone.now())
    SiteRecord.objects.filter(tenant=tenant, site_id=site.pk).update(status=status)
    SiteEvent.objects.create(site=site, step=f"status:{status}", outcome=SiteEvent.Outcome.SUCCEEDED, detail=detail)
    publish_tenant_event(tenant.pk, "site.status", {"site": site.slug, "status": status})


# --- Running operations --------------------------------------------------------------------------


def kick(tenant: Tenant, site_id: int, *, after: float | None = None) -> None:
    """Ask a worker to advance the site's operations (now, or `after` seconds from now)."""
    from sites.tasks import site_operations_advance
    from tenants.tasks import send_in_tenant

    send_in_tenant(site_operations_advance, tenant, site_id, countdown=after)


@dataclass(frozen=True)
class _Later:
    seconds: float


def advance(*, tenant: Tenant, site_id: int) -> str:
    """Run the site's operations, oldest first, until none is left or one must wait. Called with the
    tenant's schema active (the task's). Returns what stopped it, for the task's result."""
    worker = uuid.uuid4().hex
    while True:
        claimed = _claim_next(tenant, site_id, worker)
        if claimed is None:
            return "idle"
        if isinstance(claimed, _Later):
            kick(tenant, site_id, after=claimed.seconds)
            return "waiting"
        stopped = _run(claimed, tenant, worker)
        if stopped != "finished":
            return stopped


def _claim_next(tenant: Tenant, site_id: int, worker: str) -> SiteOperation | _Later | None:
    now = timezone.now()
    with transaction.atomic():
        site = lock_site(site_id)
        if site is None:
            return None
        operation = SiteOperation.objects.filter(site=site, state__in=UNFINISHED_STATES).order_by("id").first()
        record = SiteRecord.objects.filter(tenant=tenant, site_id=site_id)
        if operation is None:
            record.update(attention_at=None)
            return None
        if (
            operation.state == OperationState.RUNNING
            and operation.heartbeat_at
            and now - operation.heartbeat_at < _stale_after()
        ):
            return None  # another worker is on it
        if operation.state == OperationState.WAITING and operation.poll_at and operation.poll_at > now:
            return _Later((operation.poll_at - now).total_seconds())
        if operation.state == OperationState.QUEUED:
            operation.started_at = now
            start_status = _ON_START.get(operation.kind)
            if start_status and site.can_become(start_status):
                set_status(site, tenant, start_status, detail=f"{operation.kind} by {operation.requested_by_label}")
        elif operation.state == OperationState.RUNNING:
            _event(
                site,
                tenant,
                operation,
                step=operation.current_step or "operation",
                outcome=SiteEvent.Outcome.STARTED,
                detail="taken over: the worker that ran it stopped answering",
            )
        operation.state = OperationState.RUNNING
        operation.claimed_by = worker
        operation.heartbeat_at = now
        operation.save(update_fields=["state", "claimed_by", "heartbeat_at", "started_at"])
        record.update(attention_at=now + _stale_after())
        announce_operation(tenant, site, operation)
    operation.site = site
    return operation


def site_spec(*, site: Site, tenant: Tenant, suspended: bool | None = None, reveal: bool = True) -> SiteSpec:
    """What the drivers need, with the site's secrets revealed by the secret store (memory only);
    without `reveal`, no secret and no env var at all (what removing a site's pieces needs)."""
    from sites.services import site_hostname

    store = secret_store()
    kept = list(SiteSecret.objects.filter(site=site).values_list("name", "reference"))
    rows = list(SiteEnvVar.objects.filter(site=site).values_list("name", "reference", "from_secret"))
    # A var linked to a tenant secret takes the secret's reference as it is now: a replaced secret
    # reaches the site with its next env operation.
    linked = {secret for _, _, secret in rows if secret}
    shared = dict(TenantSecret.objects.filter(name__in=linked).values_list("name", "reference")) if linked else {}
    variables: list[tuple[str, str]] = []
    for name, reference, secret in rows:
        if not secret:
            variables.append((name, reference))
        elif secret in shared:
            variables.append((name, shared[secret]))
        elif reveal:
            raise StepError(
                f"The env var {name} takes its value from the secret “{secret}”, which no longer exists: "
                f"set the secret again, or give {name} a value of its own."
            )
        # Removing needs no value: a dangling link is simply left out.
    secrets, env = {}, {}
    if reveal:
        secrets = {name: store.reveal(reference) for name, reference in kept}
        env = {name: store.reveal(reference) for name, reference in variables}
    return SiteSpec(
        tenant_id=tenant.pk,
        tenant_slug=tenant.slug,
        site_id=site.pk,
        slug=site.slug,
        title=site.title,
        hostname=site_hostname(tenant, site.slug),
        max_php_workers=site.max_php_workers,
        admin_email=site.created_by_email,
        secrets=secrets,
        env=env,
        references=dict(kept + variables),
        suspended=site.status == SiteStatus.SUSPENDED if suspended is None else suspended,
        runtime=site.runtime,
        aliases=tuple(site.custom_hostnames or ()),
    )


def _desired_suspension(operation: SiteOperation) -> bool | None:
    if operation.kind == OperationKind.SUSPEND:
        return True
    if operation.kind == OperationKind.RESUME:
        return False
    return None


def _run(operation: SiteOperation, tenant: Tenant, worker: str) -> str:
    """Run an operation's remaining steps; "finished", "waiting" (a poll or a retry is scheduled) or
    "lost" (another worker took it over: this one stops)."""
    site = operation.site
    steps = plan(operation.kind)
    while operation.step_index < len(steps):
        site.refresh_from_db()
        if site.status == SiteStatus.DELETING and operation.kind != OperationKind.DELETE:
            return _finish(
                operation, tenant, worker, OperationState.CANCELLED, error="cancelled: the site is being deleted"
            )
        step, action = steps[operation.step_index]
        if not _mark_current(operation, worker, step):
            return "lost"
        announce_operation(tenant, site, operation)
        started = time.monotonic()
        try:
            # Inside the try: a secret store that cannot answer fails the step (retried), instead of
            # leaving the operation running until the reconciler takes it over, again and again.
            # Removing needs no secret's value (and the secrets may be gone by then).
            spec = site_spec(
                site=site, tenant=tenant, suspended=_desired_suspension(operation), reveal=action == "ensure"
            )
            result: StepResult | None
            with _heartbeat(operation, tenant, worker):
                if action == "ensure":
                    result = driver_of(step, site).ensure(step, spec, operation.handle or None)
                else:
                    result = driver_of(step, site).remove(step, spec, operation.handle or None)
        except Exception as exc:  # noqa: BLE001 - every failure is retried, then recorded for the person who asked
            duration_ms = int((time.monotonic() - started) * 1000)
            return _step_failed(operation, tenant, worker, step=step, exc=exc, duration_ms=duration_ms)
        duration_ms = int((time.monotonic() - started) * 1000)
        if isinstance(result, Pending):
            return _wait(operation, tenant, worker, step, result)
        detail = result.detail if result is not None else "removed"
        if not _step_done(operation, tenant, worker, step=step, detail=detail, duration_ms=duration_ms):
            return "lost"
    return _finish(operation, tenant, worker, OperationState.SUCCEEDED)


@contextmanager
def _heartbeat(operation: SiteOperation, tenant: Tenant, worker: str) -> Iterator[None]:
    """While a step runs, its operation shows life (from a thread with a connection of its own), so a
    long step (an install on a slow host) is never mistaken for a dead worker's and taken over."""
    stop = threading.Event()
    every = max(1.0, settings.SITES_STEP_STALE_SECONDS / 3)

    def beat() -> None:
        try:
            with tenant_context(tenant):
                while not stop.wait(every):
                    _mine(operation, worker).update(heartbeat_at=timezone.now())
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{operation.pk}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)


def _mine(operation: SiteOperation, worker: str) -> Any:
    return SiteOperation.objects.filter(pk=operation.pk, claimed_by=worker, state=OperationState.RUNNING)


def _mark_current(operation: SiteOperation, worker: str, step: str) -> bool:
    operation.current_step = step
    return bool(_mine(operation, worker).update(current_step=step, heartbeat_at=timezone.now()))


def _step_done(
    operation: SiteOperation, tenant: Tenant, worker: str, *, step: str, detail: str, duration_ms: int
) -> bool:
    site = operation.site
    outcome = SiteEvent.Outcome.REPAIRED if operation.kind == OperationKind.REPAIR else SiteEvent.Outcome.SUCCEEDED
    with transaction.atomic():
        lock_site(site.pk)
        moved = _mine(operation, worker).update(
            step_index=operation.step_index + 1, attempts=0, handle="", poll_at=None, heartbeat_at=timezone.now()
        )
        if not moved:
            return False
        operation.step_index += 1
        operation.attempts = 0
        operation.handle = ""
        if step == "install" and operation.kind in (OperationKind.CREATE, OperationKind.RETRY):
            # Shown once at creation; WordPress now holds its own hash of it.
            for secret in SiteSecret.objects.filter(site=site, name=ADMIN_PASSWORD_SECRET):
                forget_after_commit(secret.reference)
                secret.delete()
        SiteRecord.objects.filter(tenant=tenant, site_id=site.pk).update(attention_at=timezone.now() + _stale_after())
        _event(site, tenant, operation, step=step, outcome=outcome, detail=detail, duration_ms=duration_ms)
    return True


def _wait(operation: SiteOperation, tenant: Tenant, worker: str, step: str, pending: Pending) -> str:
    return _later(
        operation,
        tenant,
        worker,
        seconds=pending.poll_after_seconds,
        changes={"handle": pending.handle},
        event={"step": step, "outcome": SiteEvent.Outcome.WAITING, "detail": pending.detail},
    )


def _step_failed(
    operation: SiteOperation, tenant: Tenant, worker: str, *, step: str, exc: Exception, duration_ms: int
) -> str:
    message = f"{step}: {exc}" if str(exc) else f"{step}: {type(exc).__name__}"
    attempts = operation.attempts + 1
    if attempts > STEP_RETRIES:
        _event(operation.site, tenant, operation, step=step, outcome=SiteEvent.Outcome.FAILED, detail=message,
               duration_ms=duration_ms)  # fmt: skip
        return _finish(operation, tenant, worker, OperationState.FAILED, error=message)
    delay = 2.0**attempts
    operation.attempts = attempts
    return _later(
        operation,
        tenant,
        worker,
        seconds=delay,
        # Without its handle: a failed long operation is not asked about again; the step starts afresh
        # and finds what already exists.
        changes={"attempts": attempts, "error": message[:2000], "handle": ""},
        event={
            "step": step,
            "outcome": SiteEvent.Outcome.FAILED,
            "detail": f"{message} (try {attempts} of {STEP_RETRIES + 1}; again in {delay:.0f} s)",
            "duration_ms": duration_ms,
        },
    )


def _later(operation: SiteOperation, tenant: Tenant, worker: str, *, seconds: float, changes: dict, event: dict) -> str:
    """The operation waits: for its long work to be asked about again, or to try a failed step again."""
    site = operation.site
    poll_at = timezone.now() + timedelta(seconds=seconds)
    with transaction.atomic():
        lock_site(site.pk)
        if not _mine(operation, worker).update(state=OperationState.WAITING, poll_at=poll_at, **changes):
            return "lost"
        SiteRecord.objects.filter(tenant=tenant, site_id=site.pk).update(attention_at=poll_at + _stale_after())
        _event(site, tenant, operation, **event)
    kick(tenant, site.pk, after=seconds)
    return "waiting"


def _finish(operation: SiteOperation, tenant: Tenant, worker: str, state: str, *, error: str = "") -> str:
    """End an operation and move its site along. Never raises for the site's state: an operation that
    cannot finish cleanly fails with the reason, rather than being taken over again and again."""
    site = operation.site
    with transaction.atomic():
        site = lock_site(site.pk) or site
        if (
            state == OperationState.SUCCEEDED
            and site.status == SiteStatus.DELETING
            and operation.kind != OperationKind.DELETE
        ):
            # Deleted while its last step ran: what it made is about to go; it did not succeed.
            state, error = OperationState.CANCELLED, "cancelled: the site is being deleted"
        finished = _mine(operation, worker).update(
            state=state, finished_at=timezone.now(), error=error[:2000], heartbeat_at=timezone.now()
        )
        if not finished:
            return "lost"
        operation.state = state
        try:
            with transaction.atomic():
                if state == OperationState.SUCCEEDED:
                    _succeeded(site, tenant, operation)
                elif state == OperationState.FAILED:
                    _failed(site, tenant, operation, error)
        except Exception as exc:
            logger.exception("finishing an operation failed", extra={"site": site.slug, "operation": operation.pk})
            state, error = OperationState.FAILED, f"finishing {operation.kind}: {type(exc).__name__}: {exc}"
            SiteOperation.objects.filter(pk=operation.pk).update(state=state, error=error[:2000])
            operation.state = state
        announce_operation(tenant, site, operation, error=error[:300])
    return "finished"


def _succeeded(site: Site, tenant: Tenant, operation: SiteOperation) -> None:
    updates: dict[str, Any] = {"last_error": ""}
    if operation.kind in (OperationKind.CREATE, OperationKind.RETRY, OperationKind.UPDATE):
        spec = site_spec(site=site, tenant=tenant, reveal=False)  # a version needs no secret
        updates["wordpress_version"] = runtime(site.runtime).wordpress_version(spec)
    if operation.kind == OperationKind.RESUME:
        updates["suspended_with_tenant"] = False
    if operation.kind == OperationKind.ENV:
        for reference in operation.params.get("retire", []):
            forget_after_commit(reference)
    Site.objects.filter(pk=site.pk).update(**updates)
    status = _ON_SUCCESS.get(operation.kind)
    if status and site.can_become(status):  # a failed site that a tenant's resumption resumed stays failed
        set_status(site, tenant, status, detail=f"{operation.kind} done")
    if operation.kind == OperationKind.DELETE:
        for reference in SiteSecret.objects.filter(site=site).values_list("reference", flat=True):
            forget_after_commit(reference)
        for reference in SiteEnvVar.objects.filter(site=site).values_list("reference", flat=True):
            forget_after_commit(reference)
        SiteSecret.objects.filter(site=site).delete()
        SiteEnvVar.objects.filter(site=site).delete()
        SiteRecord.objects.filter(tenant=tenant, site_id=site.pk).delete()


def forget_after_commit(reference: str) -> None:
    """The secret store forgets a value once this transaction has committed (a cloud store's call
    never runs while the site's lock is held), and a failure to forget is logged, never a failed
    operation: what it leaves behind is swept when the site is deleted."""

    def forget() -> None:
        try:
            secret_store().forget(reference)
        except Exception:
            logger.exception("a site secret could not be forgotten")

    transaction.on_commit(forget)


def _failed(site: Site, tenant: Tenant, operation: SiteOperation, error: str) -> None:
    Site.objects.filter(pk=site.pk).update(last_error=error[:2000])
    status = _ON_FAILURE.get(operation.kind)
    if status and site.can_become(status):
        set_status(site, tenant, status, detail=error[:500])
    if status == SiteStatus.FAILED:
        # What was queued behind a failed create or update needs a working site: only deletion remains.
        SiteOperation.objects.filter(site=site, state=OperationState.QUEUED).exclude(kind=OperationKind.DELETE).update(
            state=OperationState.CANCELLED, finished_at=timezone.now(), error=f"cancelled: {operation.kind} failed"
        )
