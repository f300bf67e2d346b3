"""Every read of a tenant's domains, scoped to the tenant: a member of any role (or staff) may look;
to anyone else nothing exists. Each domain comes with the records its owner must create."""

from dataclasses import dataclass

from dns.models import CustomDomain
from dns.rules import is_apex
from kernel.errors import NotFound
from sites import selectors as site_selectors
from sites.runtimes.local.runtime import public_addresses
from sites.services import site_hostname
from tenants.audit import Actor
from tenants.models import Tenant
from tenants.roles import role_of


@dataclass(frozen=True)
class RecordAdvice:
    type: str  # A, AAAA, CNAME, TXT, or ALIAS (a provider's CNAME flattening)
    name: str
    value: str
    purpose: str


def _require_reader(actor: Actor, tenant: Tenant) -> None:
    if role_of(actor, tenant) is None and not actor.is_staff:
        raise NotFound("No such organisation here.")


def domain_list(*, tenant: Tenant, actor: Actor, site: str) -> list[CustomDomain]:
    found = site_selectors.site_get(tenant=tenant, actor=actor, name=site)
    return list(CustomDomain.objects.filter(tenant=tenant, site_id=found.pk).order_by("hostname"))


def domain_get(*, tenant: Tenant, actor: Actor, domain: str, site: str | None = None) -> CustomDomain:
    _require_reader(actor, tenant)
    hostname = (domain or "").strip().lower().removesuffix(".")
    found = CustomDomain.objects.filter(tenant=tenant, hostname=hostname)
    if site is not None:
        found = found.filter(site_slug=site)
    domain_row = found.first()
    if domain_row is None:
        raise NotFound(f"No domain {hostname}{f' on “{site}”' if site else ''} here.")
    return domain_row


def records_for(domain: CustomDomain, *, runtime: str) -> list[RecordAdvice]:
    """What to create at the domain's DNS host: the TXT that proves it is theirs, and what points it
    at the site (a CNAME to the site's platform hostname; at an apex, where no CNAME may be, its
    addresses, or the provider's flattening where the site has no fixed address)."""
    origin = site_hostname(domain.tenant, domain.site_slug)
    advice = [
        RecordAdvice("TXT", domain.challenge_name, domain.token, "proves the domain is yours"),
    ]
    if not is_apex(domain.hostname):
        advice.append(RecordAdvice("CNAME", domain.hostname, origin, "sends visitors to the site"))
    elif runtime == "cloudrun":
        advice.append(
            RecordAdvice(
                "ALIAS",
                domain.hostname,
                origin,
                "an apex cannot be a CNAME: use your DNS host's CNAME flattening (ALIAS or ANAME) to this name",
            )
        )
    else:
        advice += [
            RecordAdvice(kind, domain.hostname, address, "an apex cannot be a CNAME: point it at the site's address")
            for kind, address in public_addresses()
        ]
    advice += [
        RecordAdvice(
            str(extra["type"]), str(extra["name"]), str(extra["value"]), "asked for by the DNS provider (certificate)"
        )
        for extra in domain.provider_records or []
    ]
    return advice
