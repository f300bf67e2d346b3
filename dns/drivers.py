"""The DNS concern: which provider keeps the platform's zone and the tenants' custom hostnames."""

from dns.providers.base import DnsProvider
from kernel import drivers

DNS = drivers.Concern(
    name="dns",
    protocol=DnsProvider,
    variable="DNS_PROVIDER",
    known={
        # The zone in the platform's database, answered by its own authoritative server (dns serve).
        "local": "dns.providers.local.LocalDnsProvider",
        # The zone on Cloudflare; tenants' domains as Cloudflare for SaaS custom hostnames.
        "cloudflare": "dns.providers.cloudflare.CloudflareProvider",
    },
)


def register() -> None:
    drivers.register(DNS)


def provider() -> DnsProvider:
    found: DnsProvider = drivers.driver(DNS.name)
    return found
