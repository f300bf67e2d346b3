"""Every write to sites. Atomic; each writes a SiteEvent (the site's audit trail, in the tenant's
schema) and keeps the public inventory row in step."""

import re
import secrets as random_secrets
import time

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from aipress.errors import Conflict, InvalidInput
from sites import secrets
from sites.inventory.models import SiteRecord
from sites.models import TRANSITIONS, Site, SiteEvent, SiteSecret, SiteStatus
from sites.runtimes import get_runtime
from sites.runtimes.base import SiteSpec
from tenants.audit import Actor
from tenants.events import publish_tenant_event
from tenants.models import Tenant

SITE_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")


def site_hostname(tenant: Tenant, slug: str) -> str:
    # One DNS label per site (<site>--<tenant>) keeps a single wildcard certificate valid.
    return f"{slug}--{tenant.slug}.{settings.SITES_DOMAIN}"


def _validate_name(slug: str) -> str:
    slug = (slug or "").strip().lower()
    if not SITE_NAME_PATTERN.match(slug):
        raise InvalidInput(
            "Use 2 to 40 characters: lowercase letters, digits and hyphens, starting with a letter.", field="name"
        )
    if "--" in slug:
        raise InvalidInput("Double hyphens are reserved: they separate the site from the tenant.", field="name")
    return slug


ADMIN_PASSWORD_SECRET = "WP_ADMIN_PASSWORD"  # noqa: S105 - the name of a secret, not a secret


def site_create(*, actor: Actor, tenant: Tenant, name: str, title: str = "") -> tuple[Site, str]:
    """Record a new site in `requested`, with its secrets generated and encrypted.

    Returns the site and its WordPress admin password, which is shown to the requester once: it
    is kept encrypted only until WordPress is installed with it, then deleted.
    """
    slug = _validate_name(name)
    title = (title or "").strip() or slug
    if len(title) > 200:
        raise InvalidInput("Use at most 200 characters.", field="title")
    runtime = get_runtime()
    with transaction.atomic():
        # Lock the tenant row: two concurrent creations cannot both slip under the plan's limit.
        Tenant.objects.select_for_update().get(pk=tenant.pk)
        live = Site.objects.exclude(status=SiteStatus.DELETED).count()
        if live >= tenant.max_sites:
            raise Conflict(f"The plan allows {tenant.max_sites} sites; delete one or ask for a larger plan.")
        if Site.objects.filter(slug=slug).exclude(status=SiteStatus.DELETED).exists():
            raise InvalidInput(f"A site named “{slug}” already exists.", field="name")
        Site.objects.filter(slug=slug, status=SiteStatus.DELETED).delete()
        try:
            with transaction.atomic():
                site = Site.objects.create(
                    slug=slug,
                    title=title,
                    runtime=runtime.name,
                    created_by=actor.user,
                    created_by_email=actor.user.email if actor.user else "",
                    status=SiteStatus.REQUESTED,
                )
        except IntegrityError:
            raise InvalidInput(f"A site named “{slug}” already exists.", field="name") from None
        for secret_name in runtime.secret_names():
            value = random_secrets.token_urlsafe(48)
            SiteSecret.objects.create(site=site, name=secret_name, ciphertext=secrets.encrypt(value))
        admin_password = random_secrets.token_urlsafe(18)
        SiteSecret.objects.create(site=site, name=ADMIN_PASSWORD_SECRET, ciphertext=secrets.encrypt(admin_password))
        SiteRecord.objects.update_or_create(
            tenant=tenant,
            slug=slug,
            defaults={
                "site_id": site.pk,
                "status": site.status,
                "runtime": site.runtime,
                "hostname": site_hostname(tenant, slug),
            },
        )
        SiteEvent.objects.create(site=site, step="request", outcome=SiteEvent.Outcome.SUCCEEDED, detail=actor.label)
    return site, admin_password


def site_request(*, actor: Actor, tenant: Tenant, name: str, title: str = "") -> tuple[Site, str]:
    """What a member asks for (portal, API, CLI): a new site, provisioning from now on.
    Returns the site and its WordPress admin password, to be shown once."""
    with transaction.atomic():
        site, admin_password = site_create(actor=actor, tenant=tenant, name=name, title=title)
        site = site_provision_start(site=site, tenant=tenant)
    return site, admin_password


def site_transition(*, site: Site, tenant: Tenant, to: str, detail: str = "") -> Site:
    """Move a site to `to`, if its life allows it (409 otherwise)."""
    with transaction.atomic():
        current = Site.objects.select_for_update().get(pk=site.pk)
        if to not in TRANSITIONS[current.status]:
            raise Conflict(f"A site that is {current.status} cannot become {to}.")
        current.status = to
        current.save(update_fields=["status", "updated_at"])
        SiteRecord.objects.filter(tenant=tenant, slug=current.slug).update(status=to)
        SiteEvent.objects.create(site=current, step=f"status:{to}", outcome=SiteEvent.Outcome.SUCCEEDED, detail=detail)
    return current


def env_for_runtime(site: Site) -> dict[str, str]:
    from sites.env_vars import env_for_runtime as decrypted_env

    return decrypted_env(site)


def site_spec(*, site: Site, tenant: Tenant) -> SiteSpec:
    """What the runtime needs, with the site's secrets decrypted (in memory only)."""
    decrypted = {s.name: secrets.decrypt(s.ciphertext) for s in SiteSecret.objects.filter(site=site)}
    return SiteSpec(
        tenant_id=tenant.pk,
        tenant_slug=tenant.slug,
        site_id=site.pk,
        slug=site.slug,
        title=site.title,
        hostname=site_hostname(tenant, site.slug),
        max_php_workers=site.max_php_workers,
        admin_email=site.created_by_email,
        secrets=decrypted,
        env=env_for_runtime(site),
    )


# --- Provisioning, deletion, suspension -------------------------------------------------------


def _event(
    site: Site, tenant: Tenant, *, step: str, outcome: str, detail: str = "", duration_ms: int | None = None
) -> None:
    SiteEvent.objects.create(site=site, step=step, outcome=outcome, detail=detail[:2000], duration_ms=duration_ms)
    publish_tenant_event(
        tenant.pk,
        "site.progress",
        {"site": site.slug, "step": step, "outcome": outcome, "detail": detail[:300], "status": site.status},
    )


def site_provision_start(*, site: Site, tenant: Tenant) -> Site:
    """Begin (or retry) provisioning from the first step not yet done; the steps run on the worker."""
    with transaction.atomic():
        site = site_transition(site=site, tenant=tenant, to=SiteStatus.PROVISIONING)
        Site.objects.filter(pk=site.pk).update(step_queued_at=timezone.now(), last_error="")
        transaction.on_commit(lambda: _queue_step(tenant, site.pk))
    return site


def _queue_step(tenant: Tenant, site_id: int) -> None:
    from sites.tasks import site_provision_step
    from tenants.tasks import send_in_tenant

    send_in_tenant(site_provision_step, tenant, site_id)


def site_run_next_step(*, site_id: int, tenant: Tenant) -> str:
    """Run the site's next provisioning step. Returns "next", "done" or "idle" (nothing to do)."""
    runtime = get_runtime()
    site = Site.objects.filter(pk=site_id).first()
    if site is None or site.status != SiteStatus.PROVISIONING:
        return "idle"
    if site.provision_step >= len(runtime.steps):
        return "done"
    step = runtime.steps[site.provision_step]
    spec = site_spec(site=site, tenant=tenant)
    started = time.monotonic()
    try:
        detail = runtime.provision_step(step, spec)
    except Exception as exc:
        _event(
            site,
            tenant,
            step=step,
            outcome=SiteEvent.Outcome.FAILED,
            detail=f"{type(exc).__name__}: {exc}",
            duration_ms=int((time.monotonic() - started) * 1000),
        )
        Site.objects.filter(pk=site.pk).update(last_error=f"{step}: {exc}"[:2000])
        raise
    duration_ms = int((time.monotonic() - started) * 1000)
    with transaction.atomic():
        if step == "wordpress_install":
            # Shown once at creation; WordPress now holds its own hash of it.
            SiteSecret.objects.filter(site=site, name=ADMIN_PASSWORD_SECRET).delete()
        next_step = site.provision_step + 1
        Site.objects.filter(pk=site.pk).update(provision_step=next_step, step_queued_at=timezone.now())
        _event(site, tenant, step=step, outcome=SiteEvent.Outcome.SUCCEEDED, detail=detail, duration_ms=duration_ms)
        if next_step < len(runtime.steps):
            transaction.on_commit(lambda: _queue_step(tenant, site.pk))
            return "next"
        Site.objects.filter(pk=site.pk).update(wordpress_version=runtime.wordpress_version(spec), last_error="")
        site_transition(site=site, tenant=tenant, to=SiteStatus.READY, detail="all steps done")
        publish_tenant_event(tenant.pk, "site.status", {"site": site.slug, "status": SiteStatus.READY})
    return "done"


def site_provision_failed(*, site_id: int, tenant: Tenant, error: str) -> None:
    site = Site.objects.filter(pk=site_id, status=SiteStatus.PROVISIONING).first()
    if site is None:
        return
    with transaction.atomic():
        Site.objects.filter(pk=site.pk).update(last_error=error[:2000])
        site_transition(site=site, tenant=tenant, to=SiteStatus.FAILED, detail=error[:500])
        publish_tenant_event(tenant.pk, "site.status", {"site": site.slug, "status": SiteStatus.FAILED})


def site_delete(*, actor: Actor, site: Site, tenant: Tenant) -> Site:
    """Start deleting: every resource the site owned is removed on the worker."""
    with transaction.atomic():
        site = site_transition(site=site, tenant=tenant, to=SiteStatus.DELETING, detail=actor.label)
        transaction.on_commit(lambda: _queue_delete(tenant, site.pk))
    return site


def _queue_delete(tenant: Tenant, site_id: int) -> None:
    from sites.tasks import site_delete_resources
    from tenants.tasks import send_in_tenant

    send_in_tenant(site_delete_resources, tenant, site_id)


def site_delete_run(*, site_id: int, tenant: Tenant) -> None:
    site = Site.objects.filter(pk=site_id, status=SiteStatus.DELETING).first()
    if site is None:
        return
    get_runtime(site.runtime).delete(site_spec(site=site, tenant=tenant))
    with transaction.atomic():
        SiteSecret.objects.filter(site=site).delete()
        SiteRecord.objects.filter(tenant=tenant, slug=site.slug).delete()
        site_transition(site=site, tenant=tenant, to=SiteStatus.DELETED)
        publish_tenant_event(tenant.pk, "site.status", {"site": site.slug, "status": SiteStatus.DELETED})


def site_suspend(*, actor: Actor, site: Site, tenant: Tenant) -> Site:
    with transaction.atomic():
        site = site_transition(site=site, tenant=tenant, to=SiteStatus.SUSPENDED, detail=actor.label)
        get_runtime(site.runtime).suspend(site_spec(site=site, tenant=tenant))
    return site


def site_resume(*, actor: Actor, site: Site, tenant: Tenant) -> Site:
    with transaction.atomic():
        site = site_transition(site=site, tenant=tenant, to=SiteStatus.READY, detail=actor.label)
        get_runtime(site.runtime).resume(site_spec(site=site, tenant=tenant))
    return site


def sites_follow_tenant(*, tenant: Tenant, suspended: bool) -> int:
    """Suspend the tenant's ready sites (or resume those its suspension had suspended)."""
    runtime_by_name: dict[str, object] = {}
    changed = 0
    if suspended:
        candidates = Site.objects.filter(status=SiteStatus.READY)
    else:
        candidates = Site.objects.filter(status=SiteStatus.SUSPENDED, suspended_with_tenant=True)
    for candidate in candidates:
        runtime = runtime_by_name.setdefault(candidate.runtime, get_runtime(candidate.runtime))
        with transaction.atomic():
            to = SiteStatus.SUSPENDED if suspended else SiteStatus.READY
            site = site_transition(
                site=candidate, tenant=tenant, to=to, detail="tenant suspended" if suspended else "tenant resumed"
            )
            Site.objects.filter(pk=site.pk).update(suspended_with_tenant=suspended)
            spec = site_spec(site=site, tenant=tenant)
            if suspended:
                runtime.suspend(spec)  # type: ignore[attr-defined]
            else:
                runtime.resume(spec)  # type: ignore[attr-defined]
        changed += 1
    return changed


MAX_PHP_WORKERS_LIMIT = 32


def site_update(
    *, actor: Actor, site: Site, tenant: Tenant, title: str | None = None, max_php_workers: int | None = None
) -> Site:
    """Change title and scaling; a ready site goes through `updating` while the runtime applies them."""
    if title is not None:
        title = title.strip()
        if not title or len(title) > 200:
            raise InvalidInput("Give a title of 1 to 200 characters.", field="title")
    if max_php_workers is not None and not 1 <= max_php_workers <= MAX_PHP_WORKERS_LIMIT:
        raise InvalidInput(f"Use 1 to {MAX_PHP_WORKERS_LIMIT} PHP workers.", field="scaling.max_php_workers")
    changes = {k: v for k, v in {"title": title, "max_php_workers": max_php_workers}.items() if v is not None}
    if not changes:
        raise InvalidInput("Nothing to change: give a title or scaling.max_php_workers.")
    if site.status != SiteStatus.READY:
        raise Conflict(f"A site that is {site.status} cannot be changed; wait until it is ready.")
    site = site_transition(site=site, tenant=tenant, to=SiteStatus.UPDATING, detail=actor.label)
    Site.objects.filter(pk=site.pk).update(**changes)
    site.refresh_from_db()
    try:
        detail = get_runtime(site.runtime).update(site_spec(site=site, tenant=tenant))
    except Exception as exc:
        Site.objects.filter(pk=site.pk).update(last_error=f"update: {exc}"[:2000])
        site_transition(site=site, tenant=tenant, to=SiteStatus.FAILED, detail=str(exc)[:500])
        raise
    SiteEvent.objects.create(site=site, step="update", outcome=SiteEvent.Outcome.SUCCEEDED, detail=detail)
    return site_transition(site=site, tenant=tenant, to=SiteStatus.READY, detail="updated")
