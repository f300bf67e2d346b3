"""The protocol every DNS provider implements, and the pipeline's `hostname` step built on it.

A provider keeps records in the platform's zone (SITES_DOMAIN) and, for the tenants' own domains,
"custom hostnames": what makes the provider's edge accept a name it does not own and route it to a
site (Cloudflare for SaaS). The local provider keeps its zone in the database and has no edge: a
custom hostname there is only the site's nginx server name, so it needs no certificate.
"""

from dataclasses import dataclass
from typing import Protocol

from django.db import models

from sites.spec import Done, Pending, SiteSpec, StepDriver, StepError, StepResult

RECORD_TYPES = ("A", "AAAA", "CNAME", "TXT")


@dataclass(frozen=True)
class Record:
    name: str  # fully qualified, lowercase, without the final dot
    type: str  # one of RECORD_TYPES
    content: str  # an address, a hostname (no final dot) or a TXT value
    ttl: int = 300


class Certificate(models.TextChoices):
    PENDING = "pending", "Pending"
    ACTIVE = "active", "Active"
    FAILED = "failed", "Failed"
    NOT_NEEDED = "not_needed", "Not needed"  # the local runtime serves plain HTTP


@dataclass(frozen=True)
class CustomHostname:
    """A tenant's domain as the provider's edge knows it."""

    hostname: str
    reference: str  # the provider's id of it ("" when the provider keeps none)
    certificate: str  # a Certificate value
    detail: str = ""  # the provider's own words about the certificate, for people
    # Records the provider asks the domain's owner to create as well (a certificate's validation).
    records: tuple[Record, ...] = ()


class DnsError(StepError):
    """A provider refused or could not be reached; the message says what to do about it."""


class DnsProvider(StepDriver, Protocol):
    """Owns the pipeline's `hostname` step (StepDriver) and the platform's zone."""

    name: str

    def records_at(self, name: str) -> list[Record]:
        """Every record of the platform's zone at exactly `name`."""
        ...

    def record_set(self, record: Record) -> bool:
        """Make `record` the only record of its type at its name (create or replace); True when
        something changed."""
        ...

    def records_delete(self, name: str, type: str | None) -> int:
        """Delete the records at `name` (of one type, or all); how many went. Quiet when none."""
        ...

    def custom_hostname_ensure(self, hostname: str, origin: str) -> CustomHostname:
        """The provider routes `hostname` (a tenant's domain) to `origin` (the site's platform
        hostname); idempotent."""
        ...

    def custom_hostname_get(self, hostname: str, reference: str) -> CustomHostname | None:
        """What the provider says of it now (its certificate), or None when it has no such hostname."""
        ...

    def custom_hostname_remove(self, hostname: str, reference: str) -> None:
        """Stop routing `hostname`; quiet when it is already gone."""
        ...

    # The provider's edge, when it has one, is the CDN in front of sites (docs/page-cache.md).
    edge: bool

    def edge_purge(self, hostnames: list[str], urls: list[str]) -> str:
        """Empty the edge's copies of a site's pages: those at `urls` (absolute), or every page of
        `hostnames` when `urls` is empty, and nothing of any other site; what was done, for people."""
        ...


def platform_records(spec: SiteSpec) -> list[Record]:
    """The records that make the site's platform hostname reach it, from its runtime."""
    from sites.drivers import runtime

    return [Record(spec.hostname, kind, content) for kind, content in runtime(spec.runtime).public_records(spec)]


class HostnameStep:
    """The `hostname` step of a site's pipeline for any provider: its platform hostname's records are
    exactly what its runtime answers on (ensure), and go with it (remove); the reconciler puts back a
    record that went missing or was changed by hand (status)."""

    def ensure(self: DnsProvider, step: str, spec: SiteSpec, handle: str | None) -> StepResult:
        if step != "hostname":
            raise StepError(f"The DNS provider has no step {step!r}.")
        wanted = platform_records(spec)
        wanted_types = {record.type for record in wanted}
        for record in self.records_at(spec.hostname):
            if record.type not in wanted_types:
                # A CNAME may not sit beside other records: a site moved between runtimes changes type.
                self.records_delete(spec.hostname, record.type)
        changed = [record for record in wanted if self.record_set(record)]
        shown = ", ".join(f"{record.type} {record.content}" for record in wanted)
        return Done(f"{spec.hostname} {'now' if changed else 'already'} {shown}")

    def remove(self: DnsProvider, step: str, spec: SiteSpec, handle: str | None) -> Pending | None:
        if step == "hostname":
            self.records_delete(spec.hostname, None)
        return None

    def status(self: DnsProvider, step: str, spec: SiteSpec) -> bool:
        if step != "hostname":
            return True
        present = {(record.type, record.content) for record in self.records_at(spec.hostname)}
        return all((record.type, record.content) in present for record in platform_records(spec))
