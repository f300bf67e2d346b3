"""Every write to the tenants' domains, and the check that moves a domain along.

A domain is added to one site (pending), checked in the background (dns.tasks, with backoff; "check
now" on demand) and moves to verified once its TXT record proves the tenant holds it and its records
point at the site; the site's pipeline then routes it (a domains operation), and once the site answers
on it and its certificate is issued (where there is an edge to issue one) it is active. A domain not
verified within DNS_VERIFY_GIVE_UP_HOURS fails with the reason; "check now" starts it again. Nothing
that fails here touches the site.
"""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django_tenants.utils import tenant_context

from dns import verification
from dns.drivers import provider
from dns.models import Check, CustomDomain, DomainStatus
from dns.providers.base import Certificate, DnsError
from dns.rules import validate_domain
from kernel.errors import Conflict, NotFound
from sites import selectors as site_selectors
from sites import services as site_services
from sites.models import OperationKind, OperationState, Site, SiteOperation, SiteStatus
from tenants.audit import Actor, audit_record
from tenants.events import publish_tenant_event
from tenants.models import Tenant
from tenants.roles import SITE_WRITERS, require_role

logger = logging.getLogger(__name__)

WRITE_REFUSED = "Your role can see domains but not change them."
FIRST_INTERVAL_SECONDS = 30


def _kick(domain_id: int) -> None:
    from dns.tasks import domain_check_task

    transaction.on_commit(lambda: domain_check_task.delay(domain_id))


def _announce(domain: CustomDomain) -> None:
    payload = {
        "site": domain.site_slug,
        "domain": domain.hostname,
        "status": domain.status,
        "ownership": domain.ownership,
        "dns": domain.dns,
        "certificate": domain.certificate,
        "reason": domain.reason[:300],
    }
    publish_tenant_event(domain.tenant_id, "domain.status", payload)


def _owned(tenant: Tenant, hostname: str, *, site: str | None = None, for_update: bool = False) -> CustomDomain:
    found = CustomDomain.objects.filter(tenant=tenant, hostname=hostname)
    if site is not None:
        found = found.filter(site_slug=site)
    domain = (found.select_for_update() if for_update else found).first()
    if domain is None:
        where = f" on “{site}”" if site else ""
        raise NotFound(f"No domain {hostname}{where} here.")
    return domain


def domain_add(*, tenant: Tenant, actor: Actor, site: str, domain: str) -> CustomDomain:
    """Claim `domain` for one of the tenant's sites; the answer's records say what to create."""
    require_role(actor, tenant, SITE_WRITERS, WRITE_REFUSED)
    found = site_selectors.site_get(tenant=tenant, actor=actor, name=site)  # first: no such site is a 404
    hostname = validate_domain(domain)
    if found.status == SiteStatus.DELETING:
        raise Conflict(f"“{found.slug}” is being deleted.")
    with transaction.atomic():
        existing = CustomDomain.objects.select_for_update().filter(hostname=hostname).first()
        if existing is not None:
            if existing.tenant_id == tenant.pk:
                where = "this site" if existing.site_id == found.pk else f"“{existing.site_slug}”"
                raise Conflict(f"{hostname} is already added to {where}.", field="domain")
            lapsed = existing.created_at < timezone.now() - timedelta(hours=settings.DNS_VERIFY_GIVE_UP_HOURS)
            if existing.status not in (DomainStatus.PENDING, DomainStatus.FAILED) or not lapsed:
                # Whose it is stays private: another tenant's domains are none of this one's business.
                raise Conflict(
                    f"{hostname} is taken: another organisation on this platform has it. If the domain is "
                    "yours, its records show it: ask support, or wait until an unproven claim lapses "
                    f"({settings.DNS_VERIFY_GIVE_UP_HOURS} hours).",
                    field="domain",
                )
            # A claim never proven within the give-up time since it was made is released to whoever
            # proves the domain next ("check now" does not renew it).
            _release(existing, Actor.system("domain claim lapsed"))
        if CustomDomain.objects.filter(tenant=tenant, site_id=found.pk).count() >= settings.DNS_MAX_DOMAINS_PER_SITE:
            raise Conflict(f"A site can have {settings.DNS_MAX_DOMAINS_PER_SITE} domains; remove one first.")
        try:
            with transaction.atomic():
                added = CustomDomain.objects.create(
                    hostname=hostname,
                    tenant=tenant,
                    site_id=found.pk,
                    site_slug=found.slug,
                    token=secrets.token_hex(16),
                    reason="Waiting for its first check.",
                    next_check_at=timezone.now(),
                    created_by_label=actor.label[:200],
                )
        except IntegrityError:
            raise Conflict(f"{hostname} was just added by someone else.", field="domain") from None
        audit_record(actor=actor, action="domain.add", tenant=tenant, target=hostname, site=found.slug)
        _announce(added)
        _kick(added.pk)
    return added


def _release(domain: CustomDomain, actor: Actor, *, route: bool = True) -> None:
    """The domain goes: its row now, its routing (unless its site is gone) and the provider's custom
    hostname once committed."""
    hostname, reference, tenant = domain.hostname, domain.provider_reference, domain.tenant
    site_id = domain.site_id
    domain.delete()
    if route:
        _route_site(tenant, site_id)
    audit_record(actor=actor, action="domain.remove", tenant=tenant, target=hostname)

    def withdraw() -> None:
        from dns.tasks import domain_provider_remove

        domain_provider_remove.delay(hostname, reference)

    transaction.on_commit(withdraw)


def domain_remove(*, tenant: Tenant, actor: Actor, domain: str, site: str | None = None) -> str:
    """The site stops answering on the domain; the provider forgets it. Returns the site's name."""
    require_role(actor, tenant, SITE_WRITERS, WRITE_REFUSED)
    hostname = (domain or "").strip().lower().removesuffix(".")
    with transaction.atomic():
        found = _owned(tenant, hostname, site=site, for_update=True)
        slug = found.site_slug
        _release(found, actor)
        publish_tenant_event(tenant.pk, "domain.status", {"site": slug, "domain": hostname, "status": "removed"})
    return slug


def domain_verify_request(*, tenant: Tenant, actor: Actor, domain: str, site: str | None = None) -> CustomDomain:
    """ "Check now": the domain is checked at once. A failed one starts again (with a fresh deadline
    of its own, and its certificate asked about afresh); a verified one that its site could not take
    is offered to the site again."""
    require_role(actor, tenant, SITE_WRITERS, WRITE_REFUSED)
    hostname = (domain or "").strip().lower().removesuffix(".")
    with transaction.atomic():
        found = _owned(tenant, hostname, site=site, for_update=True)
        if found.status == DomainStatus.VERIFIED:
            _route_site(tenant, found.site_id, again=True)
        if found.status == DomainStatus.FAILED:
            found.status = DomainStatus.PENDING
            found.pending_since = timezone.now()
            found.checks = 0
            found.reason = "Checking again."
            if found.certificate == Certificate.FAILED:
                found.certificate, found.certificate_detail = Certificate.PENDING, "Asked again."
        found.next_check_at = timezone.now()
        found.save()
        audit_record(actor=actor, action="domain.verify", tenant=tenant, target=hostname)
        _announce(found)
        _kick(found.pk)
    return found


# --- The check (dns.tasks runs it) ----------------------------------------------------------------


def _routed(tenant: Tenant, domain: CustomDomain) -> tuple[bool, str]:
    """Whether the site's pipeline has put the domain in its server block: the name is in its custom
    hostnames, the site runs, and its last domains operation succeeded. Otherwise, what stops it."""
    with tenant_context(tenant):
        site = Site.objects.filter(pk=domain.site_id).first()
        if site is None or domain.hostname not in (site.custom_hostnames or []):
            return False, ""
        if site.status not in (SiteStatus.READY, SiteStatus.SUSPENDED, SiteStatus.UPDATING):
            return False, f"The site is {site.status}: it answers on the domain once it runs again."
        last = SiteOperation.objects.filter(site=site, kind=OperationKind.DOMAINS).order_by("-id").first()
        if last is None or last.state == OperationState.SUCCEEDED:
            return True, ""
        if last.state == OperationState.FAILED:
            return (
                False,
                f"The site could not be set up to answer on it ({last.error[:300]}): press “check now” to try again.",
            )
        return False, ""


def _site_of(tenant: Tenant, domain: CustomDomain) -> Site | None:
    with tenant_context(tenant):
        return Site.objects.filter(pk=domain.site_id).first()


def _next_check(domain: CustomDomain) -> timedelta | None:
    """Pending and verified domains back off (30 s, doubling, at most DNS_VERIFY_MAX_INTERVAL_SECONDS;
    a finished domains operation asks for a check at once); active ones are checked now and then."""
    if domain.status == DomainStatus.FAILED:
        return None
    if domain.status == DomainStatus.ACTIVE:
        return timedelta(seconds=settings.DNS_RECHECK_ACTIVE_SECONDS)
    waited = FIRST_INTERVAL_SECONDS * 2 ** min(max(domain.checks - 1, 0), 16)
    return timedelta(seconds=min(waited, settings.DNS_VERIFY_MAX_INTERVAL_SECONDS))


def _certificate(domain: CustomDomain, origin: str) -> None:
    """Ask the provider to route the domain (once) and what it says of the certificate now."""
    dns_provider = provider()
    try:
        if not domain.provider_reference:
            made = dns_provider.custom_hostname_ensure(domain.hostname, origin)
            domain.provider_reference = made.reference
        found = dns_provider.custom_hostname_get(domain.hostname, domain.provider_reference)
        if found is None:
            domain.provider_reference = ""
            domain.certificate, domain.certificate_detail = (
                Certificate.PENDING,
                "The provider lost it; it is added again.",
            )
            return
        domain.certificate, domain.certificate_detail = found.certificate, found.detail
        domain.provider_records = [
            {"type": record.type, "name": record.name, "value": record.content} for record in found.records
        ]
    except DnsError as exc:
        domain.certificate, domain.certificate_detail = Certificate.PENDING, str(exc)


def domain_check(*, domain_id: int) -> CustomDomain | None:
    """Check one domain's records and certificate and move it along (the system acts). The slow part
    (DNS, the provider) runs without a lock; what it found is applied to the row as it is then, under
    its lock, so a domain removed meanwhile stays removed."""
    seen = CustomDomain.objects.select_related("tenant").filter(pk=domain_id).first()
    if seen is None:
        return None
    tenant = seen.tenant
    site = _site_of(tenant, seen)
    if site is None or site.status == SiteStatus.DELETED:
        # Its site's deletion dropped it, unless the worker stopped in between: drop it now.
        domains_drop_site(tenant=tenant, site_id=seen.site_id)
        return None
    if site.status == SiteStatus.DELETING:
        return None
    origin = site_services.site_hostname(tenant, site.slug)
    found = verification.check(seen.hostname, token=seen.token, origin=origin)
    proven = found.ownership_ok and found.dns_ok
    if proven or seen.status in (DomainStatus.VERIFIED, DomainStatus.ACTIVE):
        _certificate(seen, origin)
    with transaction.atomic():
        domain = CustomDomain.objects.select_for_update().filter(pk=domain_id).first()
        if domain is None:
            return None  # removed while it was being checked
        _apply(domain, seen, found, proven)
        domain.save()
        _route_site(tenant, domain.site_id)
        routing = ""
        if domain.status == DomainStatus.VERIFIED:
            routed, routing = _routed(tenant, domain)
            if routed and domain.certificate in (Certificate.ACTIVE, Certificate.NOT_NEEDED):
                domain.status, domain.activated_at = DomainStatus.ACTIVE, timezone.now()
                domain.checks = 0
        domain.reason = routing or _reason(domain, found)
        wait = _next_check(domain)
        domain.next_check_at = timezone.now() + wait if wait is not None else None
        domain.save()
        _announce(domain)
    return domain


def _apply(domain: CustomDomain, seen: CustomDomain, found: verification.Findings, proven: bool) -> None:
    """Move the domain along by what the check found (before routing; see domain_check)."""
    now = timezone.now()
    domain.ownership = Check.OK if found.ownership_ok else Check.FAILED
    domain.dns = Check.OK if found.dns_ok else Check.FAILED
    domain.ownership_detail, domain.dns_detail = found.ownership_detail, found.dns_detail
    domain.provider_reference = seen.provider_reference
    domain.certificate, domain.certificate_detail = seen.certificate, seen.certificate_detail
    domain.provider_records = seen.provider_records
    domain.checks += 1
    domain.last_checked_at = now
    give_up = timedelta(hours=settings.DNS_VERIFY_GIVE_UP_HOURS)
    if proven and domain.status in (DomainStatus.PENDING, DomainStatus.FAILED):
        domain.status, domain.verified_at, domain.checks = DomainStatus.VERIFIED, now, 1
    elif domain.status in (DomainStatus.VERIFIED, DomainStatus.ACTIVE) and found.points_elsewhere:
        # Its records no longer send visitors here (the domain may have changed hands): the site stops
        # answering on it, so that no one else's name can make WordPress build links to itself.
        domain.status, domain.pending_since, domain.checks = DomainStatus.PENDING, now, 1
    if domain.status == DomainStatus.PENDING and now - domain.pending_since > give_up:
        domain.status = DomainStatus.FAILED
    if domain.status == DomainStatus.VERIFIED and domain.certificate == Certificate.FAILED:
        domain.status = DomainStatus.FAILED
    if (
        domain.status == DomainStatus.VERIFIED
        and domain.certificate == Certificate.PENDING
        and domain.verified_at
        and now - domain.verified_at > give_up
    ):
        domain.status, domain.certificate = DomainStatus.FAILED, Certificate.FAILED
        domain.certificate_detail = (
            f"not issued within {settings.DNS_VERIFY_GIVE_UP_HOURS} hours ({domain.certificate_detail})"
        )


def _route_site(tenant: Tenant, site_id: int, *, again: bool = False) -> None:
    """The site answers on exactly its proven domains (verified or active), as the rows say now;
    `again` queues the domains operation even when nothing changed (after one failed)."""
    proven = CustomDomain.objects.filter(
        tenant=tenant, site_id=site_id, status__in=(DomainStatus.VERIFIED, DomainStatus.ACTIVE)
    ).values_list("hostname", flat=True)
    site_services.site_custom_hostnames_set(
        tenant=tenant,
        actor=Actor.system("domain verification"),
        site_id=site_id,
        hostnames=sorted(proven),
        again=again,
    )


def _reason(domain: CustomDomain, found: verification.Findings) -> str:  # noqa: PLR0911 - one sentence per state
    if domain.status == DomainStatus.ACTIVE:
        problems = [detail for ok, detail in found.problems() if not ok]
        return f"Active. Records changed since: {' '.join(problems)}" if problems else ""
    if domain.certificate == Certificate.FAILED:
        return f"The certificate could not be issued: {domain.certificate_detail}"
    problems = [detail for ok, detail in found.problems() if not ok]
    if domain.status == DomainStatus.PENDING and domain.verified_at and found.points_elsewhere:
        return f"Its records no longer send visitors here, so the site stopped answering on it: {' '.join(problems)}"
    if domain.status == DomainStatus.FAILED:
        last = " ".join(problems) or "its records were not found."
        return (
            f"Not verified within {settings.DNS_VERIFY_GIVE_UP_HOURS} hours: {last} "
            "Fix the records, then press “check now”."
        )
    if problems:
        return " ".join(problems)
    if domain.certificate == Certificate.PENDING:
        return f"Verified; waiting for the certificate: {domain.certificate_detail or 'being issued'}"
    return "Verified; the site is being set up to answer on it."


def domains_site_changed(*, tenant: Tenant, site_id: int) -> list[int]:
    """The site's operation finished: its verified domains are checked again now (they may be routed)."""
    ids = list(
        CustomDomain.objects.filter(tenant=tenant, site_id=site_id, status=DomainStatus.VERIFIED).values_list(
            "pk", flat=True
        )
    )
    for domain_id in ids:
        _kick(domain_id)
    return ids


def domains_drop_site(*, tenant: Tenant, site_id: int) -> int:
    """The site is deleted: its domains go with it (and the provider's custom hostnames)."""
    actor = Actor.system("site deletion")
    with transaction.atomic():
        dropped = list(CustomDomain.objects.select_for_update().filter(tenant=tenant, site_id=site_id))
        for domain in dropped:
            _release(domain, actor, route=False)
    return len(dropped)
