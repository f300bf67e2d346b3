"""Every write to sites.

Each service takes the tenant and the acting user (or a named system actor), enters the tenant's
schema itself, checks the actor's role there (tenants.roles), writes the tenant's audit trail, and
asks for the change as a SiteOperation: the pipeline (sites.pipeline) runs it on the worker once the
transaction has committed. No service calls a runtime: a web request only records what is wanted.
"""

import re
import secrets as random_secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from kernel.errors import Conflict, InvalidInput, NotFound, NotPermitted
from sites import page_cache, pipeline
from sites.drivers import RUNTIME, secret_store
from sites.inventory.models import SiteRecord
from sites.models import (
    MAX_PHP_WORKERS_LIMIT,
    SECRET_NAME_MAX_LENGTH,
    SECRET_NAME_PATTERN,
    SITE_NAME_PATTERN,
    SITE_TITLE_MAX_LENGTH,
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
from sites.rules import check_env_name, check_env_value
from sites.spec import ADMIN_PASSWORD_SECRET, GENERATED_SECRETS
from tenants.audit import Actor, audit_record
from tenants.models import Tenant, TenantStatus
from tenants.roles import MANAGER_ROLES, SITE_WRITERS, require_role

_NAME = re.compile(SITE_NAME_PATTERN)
_SECRET_NAME = re.compile(SECRET_NAME_PATTERN)
WRITE_REFUSED = "Your role can see sites but not change them."
SECRETS_REFUSED = "Only owners and admins can set, delete or hand out the organisation's secrets."


def site_hostname(tenant: Tenant, slug: str) -> str:
    # One DNS label per site (<site>--<tenant>) keeps a single wildcard certificate valid.
    return f"{slug}--{tenant.slug}.{settings.SITES_DOMAIN}"


def validate_name(name: str) -> str:
    slug = (name or "").strip().lower()
    if not _NAME.fullmatch(slug):
        raise InvalidInput(
            "Use 2 to 40 characters: lowercase letters, digits and hyphens, starting with a letter.", field="name"
        )
    if "--" in slug:
        raise InvalidInput("Double hyphens are reserved: they separate the site from the tenant.", field="name")
    return slug


def validate_title(title: str, *, field: str = "title") -> str:
    title = (title or "").strip()
    if not title or len(title) > SITE_TITLE_MAX_LENGTH:
        raise InvalidInput(f"Give a title of 1 to {SITE_TITLE_MAX_LENGTH} characters.", field=field)
    if any(ord(character) < 32 for character in title):
        raise InvalidInput("A title is one line of text, without control characters.", field=field)
    return title


def _live_site(name: str, *, for_update: bool = False) -> Site:
    """The tenant's site of that name (the tenant's schema is active), or NotFound."""
    sites = Site.objects.exclude(status=SiteStatus.DELETED).filter(slug=(name or "").strip().lower())
    site = (sites.select_for_update(no_key=True) if for_update else sites).first()
    if site is None:
        raise NotFound(f"No site “{name}” here.")
    return site


def _attention_deadline() -> datetime:
    return timezone.now() + timedelta(seconds=settings.SITES_STEP_STALE_SECONDS)


def _queue(*, site: Site, tenant: Tenant, actor: Actor, kind: str, params: dict | None = None) -> SiteOperation:
    """Record an operation; the pipeline picks it up once this transaction commits."""
    operation = SiteOperation.objects.create(
        site=site,
        kind=kind,
        requested_by=actor.user,
        requested_by_label=actor.label[:200],
        params=params or {},
        steps_total=len(pipeline.plan(kind)),
    )
    SiteRecord.objects.filter(tenant=tenant, site_id=site.pk).update(attention_at=_attention_deadline())
    pipeline.announce_operation(tenant, site, operation)
    transaction.on_commit(lambda: pipeline.kick(tenant, site.pk))
    return operation


def _busy_with(site: Site) -> SiteOperation | None:
    """An unfinished operation that a new change must not overtake (env and domain updates queue
    behind anything)."""
    return (
        SiteOperation.objects.filter(site=site, state__in=UNFINISHED_STATES)
        .exclude(kind__in=(OperationKind.ENV, OperationKind.DOMAINS))
        .order_by("id")
        .first()
    )


def _refuse_if_busy(site: Site) -> None:
    busy = _busy_with(site)
    if busy is not None:
        where = f", step {busy.step_index + 1} of {busy.steps_total}" if busy.state != OperationState.QUEUED else ""
        raise Conflict(
            f"“{site.slug}” is busy: its {busy.kind} operation is {busy.state}{where}. "
            "Try again when it has finished (GET its operations to follow it)."
        )


def _require_status(site: Site, *allowed: str, action: str) -> None:
    if site.status not in allowed:
        raise Conflict(f"A site that is {site.status} cannot be {action}.")


# --- Requests ----------------------------------------------------------------------------------


def site_request(
    *, tenant: Tenant, actor: Actor, name: str, title: str = "", max_php_workers: int | None = None
) -> tuple[Site, SiteOperation, str]:
    """A new site, created on the worker from now on. Returns the site, its create operation, and
    its WordPress admin password, shown once: kept by the secret store only until WordPress is
    installed with it."""
    require_role(actor, tenant, SITE_WRITERS, WRITE_REFUSED)
    slug = validate_name(name)
    title = validate_title(title or slug)
    if max_php_workers is not None and not 1 <= max_php_workers <= MAX_PHP_WORKERS_LIMIT:
        raise InvalidInput(f"Use 1 to {MAX_PHP_WORKERS_LIMIT} PHP workers.", field="scaling.max_php_workers")
    store = secret_store()
    with tenant_context(tenant), transaction.atomic():
        # Lock the tenant row: two concurrent creations cannot both slip under the plan's limit, and
        # none can slip in after the tenant's deletion has listed its sites.
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if locked.status != TenantStatus.ACTIVE:
            raise Conflict(f"The organisation “{locked.slug}” is {locked.status}: no new site can be made.")
        # A site being deleted is on its way out: it no longer counts against the plan's limit.
        live = Site.objects.exclude(status__in=(SiteStatus.DELETED, SiteStatus.DELETING)).count()
        if live >= locked.max_sites:
            raise Conflict(f"The plan allows {locked.max_sites} sites; delete one or ask for a larger plan.")
        if Site.objects.filter(slug=slug).exclude(status=SiteStatus.DELETED).exists():
            raise InvalidInput(f"A site named “{slug}” already exists.", field="name")
        try:
            with transaction.atomic():
                site = Site.objects.create(
                    slug=slug,
                    title=title,
                    runtime=str(settings.DRIVERS[RUNTIME.name]),
                    **({"max_php_workers": max_php_workers} if max_php_workers is not None else {}),
                    created_by=actor.user,
                    created_by_email=actor.user.email if actor.user else "",
                    status=SiteStatus.REQUESTED,
                )
        except IntegrityError:
            raise InvalidInput(f"A site named “{slug}” already exists.", field="name") from None
        owner = f"t{tenant.pk}_s{site.pk}"
        for secret_name in GENERATED_SECRETS:
            value = random_secrets.token_urlsafe(48)
            SiteSecret.objects.create(
                site=site, name=secret_name, reference=store.store(owner=owner, name=secret_name, value=value)
            )
        admin_password = random_secrets.token_urlsafe(18)
        SiteSecret.objects.create(
            site=site,
            name=ADMIN_PASSWORD_SECRET,
            reference=store.store(owner=owner, name=ADMIN_PASSWORD_SECRET, value=admin_password),
        )
        SiteRecord.objects.create(
            tenant=tenant, site_id=site.pk, slug=slug, status=site.status, runtime=site.runtime,
            hostname=site_hostname(tenant, slug),
        )  # fmt: skip
        SiteEvent.objects.create(site=site, step="request", outcome=SiteEvent.Outcome.SUCCEEDED, detail=actor.label)
        operation = _queue(site=site, tenant=tenant, actor=actor, kind=OperationKind.CREATE)
        audit_record(actor=actor, action="site.create", tenant=tenant, target=slug, title=title)
    return site, operation, admin_password


def site_update(
    *, tenant: Tenant, actor: Actor, name: str, title: str | None = None, max_php_workers: int | None = None
) -> SiteOperation:
    """Change title and scaling; the running site gets them through an update operation."""
    require_role(actor, tenant, SITE_WRITERS, WRITE_REFUSED)
    if title is not None:
        title = validate_title(title)
    if max_php_workers is not None and not 1 <= max_php_workers <= MAX_PHP_WORKERS_LIMIT:
        raise InvalidInput(f"Use 1 to {MAX_PHP_WORKERS_LIMIT} PHP workers.", field="scaling.max_php_workers")
    changes = {k: v for k, v in {"title": title, "max_php_workers": max_php_workers}.items() if v is not None}
    if not changes:
        raise InvalidInput("Nothing to change: give a title or scaling.max_php_workers.")
    with tenant_context(tenant), transaction.atomic():
        site = _live_site(name, for_update=True)
        busy = _busy_with(site)
        if busy is not None and busy.kind == OperationKind.UPDATE and busy.state == OperationState.QUEUED:
            # An update not started yet applies the site as it is when it starts (the worker takes the
            # site's lock, held here, to start it): this change joins it instead of being refused.
            operation = busy
            operation.params = {**operation.params, **changes}
            operation.save(update_fields=["params"])
        else:
            _refuse_if_busy(site)
            _require_status(site, SiteStatus.READY, action="changed; wait until it is ready")
            operation = _queue(site=site, tenant=tenant, actor=actor, kind=OperationKind.UPDATE, params=changes)
        Site.objects.filter(pk=site.pk).update(**changes)
        audit_record(actor=actor, action="site.update", tenant=tenant, target=site.slug, **changes)
    return operation


def _state_change(
    *, tenant: Tenant, actor: Actor, name: str, kind: str, allowed: tuple[str, ...], verb: str
) -> SiteOperation:
    require_role(actor, tenant, SITE_WRITERS, WRITE_REFUSED)
    with tenant_context(tenant), transaction.atomic():
        site = _live_site(name, for_update=True)
        _refuse_if_busy(site)
        _require_status(site, *allowed, action=verb)
        operation = _queue(site=site, tenant=tenant, actor=actor, kind=kind)
        audit_record(actor=actor, action=f"site.{kind}", tenant=tenant, target=site.slug)
    return operation


def site_suspend(*, tenant: Tenant, actor: Actor, name: str) -> SiteOperation:
    """The site answers a clear 503 page; nothing of it is removed."""
    return _state_change(
        tenant=tenant, actor=actor, name=name, kind=OperationKind.SUSPEND, allowed=(SiteStatus.READY,), verb="suspended"
    )


def site_resume(*, tenant: Tenant, actor: Actor, name: str) -> SiteOperation:
    return _state_change(
        tenant=tenant,
        actor=actor,
        name=name,
        kind=OperationKind.RESUME,
        allowed=(SiteStatus.SUSPENDED,),
        verb="resumed",
    )


def site_retry(*, tenant: Tenant, actor: Actor, name: str) -> SiteOperation:
    """Run a failed site's steps again (or a deletion that failed)."""
    require_role(actor, tenant, SITE_WRITERS, WRITE_REFUSED)
    with tenant_context(tenant), transaction.atomic():
        site = _live_site(name, for_update=True)
        _refuse_if_busy(site)
        _require_status(site, SiteStatus.FAILED, SiteStatus.DELETING, action="retried: only failed sites are")
        kind = OperationKind.DELETE if site.status == SiteStatus.DELETING else OperationKind.RETRY
        operation = _queue(site=site, tenant=tenant, actor=actor, kind=kind)
        audit_record(actor=actor, action="site.retry", tenant=tenant, target=site.slug)
    return operation


def site_delete(*, tenant: Tenant, actor: Actor, name: str) -> SiteOperation:
    """Remove everything the site owned. Accepted whatever the site is doing: operations that have not
    started are cancelled, and a running one stops at its next step."""
    require_role(actor, tenant, SITE_WRITERS, WRITE_REFUSED)
    with tenant_context(tenant), transaction.atomic():
        site = _live_site(name, for_update=True)
        if site.status == SiteStatus.DELETING:
            raise Conflict(f"“{site.slug}” is already being deleted.")
        SiteOperation.objects.filter(site=site, state__in=(OperationState.QUEUED, OperationState.WAITING)).update(
            state=OperationState.CANCELLED, finished_at=timezone.now(), error="cancelled: the site is being deleted"
        )
        pipeline.set_status(site, tenant, SiteStatus.DELETING, detail=actor.label)
        # Links to tenant secrets go now: removing a site needs no env value, a link owns no value
        # (the delete operation forgets each var's own reference, and must never reach a tenant
        # secret's), and the secret is free to be deleted at once.
        SiteEnvVar.objects.filter(site=site).exclude(from_secret="").delete()
        operation = _queue(site=site, tenant=tenant, actor=actor, kind=OperationKind.DELETE)
        audit_record(actor=actor, action="site.delete", tenant=tenant, target=site.slug)
    return operation


# --- Env vars and secrets ----------------------------------------------------------------------


def _queue_env(site: Site, tenant: Tenant, actor: Actor) -> SiteOperation:
    """One env operation applies whatever the values are when it runs: reuse one not started yet."""
    waiting = SiteOperation.objects.filter(site=site, kind=OperationKind.ENV, state=OperationState.QUEUED).first()
    if waiting is not None:
        return waiting
    return _queue(site=site, tenant=tenant, actor=actor, kind=OperationKind.ENV)


def _retire(operation: SiteOperation, reference: str) -> None:
    """A value the site's running code may still be reading (a Cloud Run revision refers to its
    version): the store forgets it once the env operation has put the new values in place."""
    operation.params = {**operation.params, "retire": [*operation.params.get("retire", []), reference]}
    operation.save(update_fields=["params"])


def env_set(
    *, tenant: Tenant, actor: Actor, name: str, key: str, value: str, sensitive: bool
) -> tuple[SiteEnvVar, SiteOperation]:
    """Set an env var of the site: kept by the secret store, applied to the site by an env operation."""
    require_role(actor, tenant, SITE_WRITERS, WRITE_REFUSED)
    store = secret_store()
    with tenant_context(tenant), transaction.atomic():
        site = _live_site(name, for_update=True)  # first: no such site is a 404 whatever the body says
        key = check_env_name((key or "").strip())
        value = check_env_value(value if value is not None else "")
        if site.status == SiteStatus.DELETING:
            raise Conflict(f"“{site.slug}” is being deleted.")
        existing = SiteEnvVar.objects.filter(site=site, name=key).first()
        # Once sensitive, always sensitive: clearing the flag would reveal the stored value. A link to
        # a tenant secret stores none, so the value that replaces it is as sensitive as the caller says.
        sensitive = sensitive or bool(existing and existing.sensitive and not existing.from_secret)
        reference = store.store(owner=f"t{tenant.pk}_s{site.pk}", name=key, value=value)
        # A literal value replaces a link to a tenant secret (the secret itself stays as it is).
        var, _ = SiteEnvVar.objects.update_or_create(
            site=site, name=key, defaults={"reference": reference, "sensitive": sensitive, "from_secret": ""}
        )
        operation = _queue_env(site, tenant, actor)
        if existing is not None and existing.reference and existing.reference != reference:
            _retire(operation, existing.reference)
        audit_record(actor=actor, action="site.env.set", tenant=tenant, target=site.slug, name=key, sensitive=sensitive)
    return var, operation


def env_delete(*, tenant: Tenant, actor: Actor, name: str, key: str) -> SiteOperation:
    require_role(actor, tenant, SITE_WRITERS, WRITE_REFUSED)
    with tenant_context(tenant), transaction.atomic():
        site = _live_site(name, for_update=True)
        var = SiteEnvVar.objects.filter(site=site, name=key).first()
        if var is None:
            raise NotFound(f"“{site.slug}” has no env var {key}.")
        var.delete()
        operation = _queue_env(site, tenant, actor)
        if var.reference:  # a link owns no value: the tenant secret's stays for its other users
            _retire(operation, var.reference)
        audit_record(actor=actor, action="site.env.delete", tenant=tenant, target=site.slug, name=key)
    return operation


def env_link_secret(
    *, tenant: Tenant, actor: Actor, name: str, key: str, secret: str
) -> tuple[SiteEnvVar, SiteOperation]:
    """Site `name`'s env var `key` takes its value from the tenant secret `secret` (now, and after
    every replacement of the secret), applied to the site by an env operation. Only those who manage
    secrets may do it: the site's code can read what it is given, so linking hands the value out."""
    require_role(actor, tenant, SITE_WRITERS, WRITE_REFUSED)
    require_role(actor, tenant, MANAGER_ROLES, SECRETS_REFUSED)
    with tenant_context(tenant), transaction.atomic():
        _live_site(name)  # first: no such site is a 404 whatever the body says
        key = check_env_name((key or "").strip())
        secret = validate_secret_name(secret, field="from_secret")
        # The secret's row first, then the site's (the order tenant_secret_set takes them in): a
        # deletion cannot slip between this check and the link, nor a replacement miss this site.
        tenant_secret = _locked_secret(secret)
        if tenant_secret is None:
            raise NotFound(f"No secret “{secret}” here: set it first (PUT /api/v1/secrets/{secret}/).")
        site = _live_site(name, for_update=True)
        if site.status == SiteStatus.DELETING:
            raise Conflict(f"“{site.slug}” is being deleted.")
        existing = SiteEnvVar.objects.filter(site=site, name=key).first()
        # Always sensitive: the value is the secret's, which nobody reads back.
        var, _ = SiteEnvVar.objects.update_or_create(
            site=site, name=key, defaults={"reference": "", "sensitive": True, "from_secret": secret}
        )
        operation = _queue_env(site, tenant, actor)
        if existing is not None and existing.reference:
            _retire(operation, existing.reference)
        audit_record(actor=actor, action="site.env.link", tenant=tenant, target=site.slug, name=key, from_secret=secret)
    return var, operation


# --- Tenant secrets ------------------------------------------------------------------------------


def validate_secret_name(name: str, *, field: str = "name") -> str:
    name = (name or "").strip()
    if len(name) > SECRET_NAME_MAX_LENGTH or not _SECRET_NAME.fullmatch(name):
        raise InvalidInput(
            f"Name a secret with 1 to {SECRET_NAME_MAX_LENGTH} characters: lowercase letters, digits and "
            "hyphens, starting and ending with a letter or digit (e.g. stripe-live).",
            field=field,
        )
    return name


def _locked_secret(name: str) -> TenantSecret | None:
    return TenantSecret.objects.select_for_update().filter(name=name).first()


def _secret_users(name: str) -> list[tuple[str, str]]:
    """(site, env var) pairs that take their value from secret `name`, by site and var."""
    return list(
        SiteEnvVar.objects.filter(from_secret=name)
        .exclude(site__status=SiteStatus.DELETED)
        .order_by("site__slug", "name")
        .values_list("site__slug", "name")
    )


def tenant_secret_set(*, tenant: Tenant, actor: Actor, name: str, value: str) -> tuple[TenantSecret, bool]:
    """Keep `value` as the tenant's secret `name` (True when it is new). Replacing a value queues an
    env operation for every site that uses it; the old value is forgotten once the new one is in
    place (right away when no site uses it). Neither the audit trail nor a log holds the value."""
    require_role(actor, tenant, MANAGER_ROLES, SECRETS_REFUSED)
    name = validate_secret_name(name)
    value = check_env_value(value if value is not None else "")
    store = secret_store()
    with tenant_context(tenant), transaction.atomic():
        secret = _locked_secret(name)
        reference = store.store(owner=f"t{tenant.pk}", name=name, value=value)
        label = actor.label[:200]
        created = secret is None
        using: list[str] = []
        if secret is None:
            try:
                with transaction.atomic():
                    secret = TenantSecret.objects.create(name=name, reference=reference, updated_by_label=label)
            except IntegrityError:
                raise Conflict(f"The secret {name} is being set by someone else at this moment; try again.") from None
        else:
            old = secret.reference
            secret.reference, secret.updated_by_label = reference, label
            secret.save(update_fields=["reference", "updated_by_label", "updated_at"])
            # Sites after the secret, one order (slug): the same order as env_link_secret and
            # sites_follow_tenant, so concurrent changes wait for each other instead of deadlocking.
            going = (SiteStatus.DELETED, SiteStatus.DELETING)
            site_ids = set(
                SiteEnvVar.objects.filter(from_secret=name)
                .exclude(site__status__in=going)
                .values_list("site_id", flat=True)
            )
            # The status again under the lock: a site whose deletion committed while this waited is left out.
            locked = Site.objects.select_for_update(no_key=True).filter(pk__in=site_ids).exclude(status__in=going)
            sites = list(locked.order_by("slug", "pk"))
            operations = [_queue_env(site, tenant, actor) for site in sites]
            using = [site.slug for site in sites]
            if old != reference:
                for operation in operations:
                    # On each site's operation: forgetting twice is quiet, and one site's failed
                    # operation does not keep the old value forever.
                    _retire(operation, old)
                if not operations:
                    pipeline.forget_after_commit(old)
        audit_record(actor=actor, action="secret.set", tenant=tenant, target=name, created=created, sites=using)
    return secret, created


def tenant_secret_delete(*, tenant: Tenant, actor: Actor, name: str) -> None:
    """Delete the tenant's secret `name`, refused while a site's env var takes its value from it."""
    require_role(actor, tenant, MANAGER_ROLES, SECRETS_REFUSED)
    name = (name or "").strip()
    with tenant_context(tenant), transaction.atomic():
        secret = _locked_secret(name)
        if secret is None:
            raise NotFound(f"No secret “{name}” here.")
        users = _secret_users(name)
        if users:
            named = ", ".join(f"{site}'s {key}" for site, key in users)
            raise Conflict(f"{name} is used by {named}: remove those first.")
        secret.delete()
        pipeline.forget_after_commit(secret.reference)
        audit_record(actor=actor, action="secret.delete", tenant=tenant, target=name)


# --- Custom hostnames (asked by the dns app) -----------------------------------------------------

_HOSTNAME = re.compile(r"^(?=.{4,253}$)(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+[a-z0-9-]{2,63}$")


def site_custom_hostnames_set(
    *, tenant: Tenant, actor: Actor, site_id: int, hostnames: list[str], again: bool = False
) -> SiteOperation | None:
    """The site answers on exactly these domains of its tenant (verified by the dns app), beside its
    platform hostname: a domains operation rewrites its server block and environment (a failed site's
    too: a name taken away must leave its server block whatever state the site is in). None when
    nothing changes (unless `again`: the last one failed), or when the site is going."""
    wanted = sorted(set(hostnames))
    bad = [name for name in wanted if not _HOSTNAME.fullmatch(name)]
    if bad:
        # The dns app validates domains; this is the last line before a name reaches a server config.
        raise InvalidInput(f"Not a hostname: {bad[0]!r}.", field="domain")
    with tenant_context(tenant), transaction.atomic():
        site = pipeline.lock_site(site_id)
        if site is None or site.status in (SiteStatus.DELETING, SiteStatus.DELETED):
            return None
        if sorted(site.custom_hostnames or []) == wanted and not again:
            return None
        Site.objects.filter(pk=site.pk).update(custom_hostnames=wanted)
        waiting = SiteOperation.objects.filter(
            site=site, kind=OperationKind.DOMAINS, state=OperationState.QUEUED
        ).first()
        operation = waiting or _queue(site=site, tenant=tenant, actor=actor, kind=OperationKind.DOMAINS)
        audit_record(actor=actor, action="site.domains", tenant=tenant, target=site.slug, hostnames=wanted)
    return operation


# --- Asked by the platform itself ----------------------------------------------------------------


def sites_follow_tenant(*, tenant: Tenant, suspended: bool) -> int:
    """A suspended tenant's ready sites are suspended; when it resumes, exactly those come back."""
    actor = Actor.system("tenant suspension" if suspended else "tenant resumption")
    queued = 0
    with tenant_context(tenant), transaction.atomic():
        if suspended:
            # Every site that may serve now or soon (a create or update finishing), except those a
            # member is suspending already: resuming the tenant must not undo a member's own pause.
            wanted = Site.objects.exclude(
                status__in=(SiteStatus.SUSPENDED, SiteStatus.DELETING, SiteStatus.DELETED)
            ).exclude(operations__kind=OperationKind.SUSPEND, operations__state__in=UNFINISHED_STATES)
        else:
            # Those its suspension paused (suspended already, or about to be): never a member's own pause.
            wanted = Site.objects.filter(suspended_with_tenant=True).exclude(
                status__in=(SiteStatus.DELETED, SiteStatus.DELETING)
            )
        candidates = Site.objects.select_for_update(no_key=True).filter(
            pk__in=list(wanted.values_list("pk", flat=True))
        )
        for site in candidates:
            kind = OperationKind.SUSPEND if suspended else OperationKind.RESUME
            _queue(site=site, tenant=tenant, actor=actor, kind=kind, params={"with_tenant": True})
            Site.objects.filter(pk=site.pk).update(suspended_with_tenant=suspended)
            queued += 1
    return queued


def sites_delete_all(*, tenant: Tenant) -> int:
    """The tenant is being deleted: every site it has goes, whatever it is doing."""
    actor = Actor.system("tenant deletion")
    with tenant_context(tenant):
        names = list(
            Site.objects.exclude(status__in=(SiteStatus.DELETED, SiteStatus.DELETING)).values_list("slug", flat=True)
        )
    for name in names:
        try:
            site_delete(tenant=tenant, actor=actor, name=name)
        except (Conflict, NotFound):
            continue  # being deleted (or gone) already, by someone else's request in flight
    with tenant_context(tenant), transaction.atomic():
        # No site refers to them any more (site_delete removed the links), and the schema that holds
        # their references goes with the tenant: a cloud store would keep the values forever.
        for secret in TenantSecret.objects.select_for_update():
            pipeline.forget_after_commit(secret.reference)
            secret.delete()
    return len(names)


def site_repair(*, tenant: Tenant, site_id: int, missing: list[str]) -> SiteOperation | None:
    """The reconciler found pieces of a running site missing: a repair operation puts them back."""
    actor = Actor.system("reconciler")
    with tenant_context(tenant), transaction.atomic():
        site = pipeline.lock_site(site_id)
        if site is None or site.status not in (SiteStatus.READY, SiteStatus.SUSPENDED) or _busy_with(site):
            return None
        return _queue(site=site, tenant=tenant, actor=actor, kind=OperationKind.REPAIR, params={"missing": missing})


# --- The page cache (docs/page-cache.md) ----------------------------------------------------------


def site_cache_purge(
    *, tenant: Tenant, actor: Actor, name: str, urls: list[str] | None = None, reason: str = ""
) -> page_cache.Purge:
    """Empty the site's page cache: every page, or the pages at `urls` (the site's addresses, or
    paths on each of its names). Asked by a person (the API, the chat, the portal)."""
    require_role(actor, tenant, SITE_WRITERS, WRITE_REFUSED)
    return _cache_purge(tenant=tenant, actor=actor, name=name, urls=urls, reason=reason)


PURGE_TOKEN_REFUSED = "This purge token is not that site's."  # noqa: S105 - a message, not a secret


def site_cache_purge_by_site(
    *, tenant: Tenant, name: str, token: str, urls: list[str] | None = None, reason: str = ""
) -> page_cache.Purge:
    """The site's own must-use plugin asks, with the site's purge token, after its content changed.
    The token opens this site's purge and nothing else: an unknown site and another site's token
    are both refused alike (403), so a site learns nothing of the others."""
    if page_cache.token_site(tenant=tenant, name=name, token=token) is None:
        raise NotPermitted(PURGE_TOKEN_REFUSED)
    actor = Actor.system(f"the site {name} itself (its page cache plugin)")
    return _cache_purge(tenant=tenant, actor=actor, name=name, urls=urls, reason=reason)


def _cache_purge(*, tenant: Tenant, actor: Actor, name: str, urls: list[str] | None, reason: str) -> page_cache.Purge:
    """The runtime empties what it keeps at once (a file operation on this host, never a cloud
    call); the CDN in front, when there is one, is asked by a task: it limits how often it may be
    asked, and a refusal is tried again later."""
    reason = page_cache.checked_reason(reason)
    with tenant_context(tenant), transaction.atomic():
        site = _live_site(name)
        if site.status == SiteStatus.DELETING:
            raise Conflict(f"“{site.slug}” is being deleted.")
        spec = pipeline.site_spec(site=site, tenant=tenant, reveal=False)
        scheme = "https" if spec.runtime != "local" else str(settings.SITES_SCHEME)
        wanted = page_cache.checked_urls(urls, spec.hostnames, scheme)
        audit_record(
            actor=actor, action="site.cache.purge", tenant=tenant, target=site.slug,
            urls=list(wanted) or "every page", reason=reason,
        )  # fmt: skip
    # Committed: now the purge itself, with no transaction open and no lock held.
    origin = page_cache.origin_purge(spec, wanted)
    edge = page_cache.edge_cache()
    if edge is not None:
        from sites.tasks import site_cache_edge_purge
        from tenants.tasks import send_in_tenant

        send_in_tenant(site_cache_edge_purge, tenant, site.pk, list(spec.hostnames), list(wanted))
    what = f"{len(wanted)} page{'s' if len(wanted) != 1 else ''}" if wanted else "every page"
    detail = f"emptied {what}{f' ({reason})' if reason else ''} by {actor.label}: {origin}"
    with tenant_context(tenant):
        SiteEvent.objects.create(
            site=site, step=page_cache.EVENT_STEP, outcome=SiteEvent.Outcome.SUCCEEDED,
            detail=(detail + ("; the CDN's copies follow in a moment" if edge else ""))[:2000],
        )  # fmt: skip
    return page_cache.Purge(site=site.slug, urls=wanted, origin=origin, edge="queued" if edge else "none")


def site_cache_edge_purged(*, tenant: Tenant, site_id: int, detail: str, failed: bool) -> None:
    """The CDN's answer to a purge the task asked for, in the site's timeline."""
    with tenant_context(tenant):
        site = Site.objects.filter(pk=site_id).first()
        if site is not None:
            outcome = SiteEvent.Outcome.FAILED if failed else SiteEvent.Outcome.SUCCEEDED
            SiteEvent.objects.create(site=site, step=page_cache.EVENT_STEP, outcome=outcome, detail=detail[:2000])
