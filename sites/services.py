"""Every write to sites. Atomic; each writes a SiteEvent (the site's audit trail, in the tenant's
schema) and keeps the public inventory row in step."""

import re
import secrets as random_secrets

from django.conf import settings
from django.db import IntegrityError, transaction

from aipress.errors import Conflict, InvalidInput
from sites import secrets
from sites.inventory.models import SiteRecord
from sites.models import TRANSITIONS, Site, SiteEvent, SiteSecret, SiteStatus
from sites.runtimes import get_runtime
from sites.runtimes.base import SiteSpec
from tenants.audit import Actor
from tenants.models import Tenant

SITE_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9-]{0,38}[a-z0-9]$")


def site_hostname(tenant: Tenant, slug: str) -> str:
    # One DNS label per site (<site>--<tenant>) keeps a single wildcard certificate valid.
    return f"{slug}--{tenant.slug}.{settings.SITES_DOMAIN}"


def site_url(tenant: Tenant, slug: str) -> str:
    port = settings.SITES_PORT
    default = 443 if settings.SITES_SCHEME == "https" else 80
    suffix = "" if port == default else f":{port}"
    return f"{settings.SITES_SCHEME}://{site_hostname(tenant, slug)}{suffix}/"


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
    )
