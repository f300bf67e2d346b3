"""The local provider: the platform's zone in the database (ZoneRecord), answered by the platform's
own authoritative server (dns.server, `manage.py dns serve`) and exported as a zone file. It has no
edge in front of the sites: a tenant's domain is routed by the site's nginx server block alone, over
plain HTTP, so it needs no certificate."""

from django.conf import settings
from django.db import transaction

from dns.models import ZoneRecord
from dns.providers.base import Certificate, CustomHostname, DnsError, HostnameStep, Record

LOCAL_CERTIFICATE = "The local runtime serves plain HTTP: there is no certificate to issue."


def platform_zone() -> str:
    return str(settings.SITES_DOMAIN).lower()


def _in_zone(name: str) -> str:
    zone = platform_zone()
    if name != zone and not name.endswith(f".{zone}"):
        raise DnsError(f"{name} is outside the platform's zone {zone}: the platform writes no record there.")
    return zone


class LocalDnsProvider(HostnameStep):
    name = "local"
    edge = False  # nothing in front of the sites: their own runtime keeps their pages

    def edge_purge(self, hostnames: list[str], urls: list[str]) -> str:
        return "no CDN in front of the sites"

    def records_at(self, name: str) -> list[Record]:
        return [
            Record(found.name, found.type, found.content, found.ttl)
            for found in ZoneRecord.objects.filter(name=name.lower()).order_by("type", "content")
        ]

    def record_set(self, record: Record) -> bool:
        zone = _in_zone(record.name)
        with transaction.atomic():
            existing = list(ZoneRecord.objects.select_for_update().filter(name=record.name, type=record.type))
            if len(existing) == 1 and (existing[0].content, existing[0].ttl) == (record.content, record.ttl):
                return False
            ZoneRecord.objects.filter(pk__in=[found.pk for found in existing]).delete()
            ZoneRecord.objects.create(
                zone=zone, name=record.name, type=record.type, content=record.content, ttl=record.ttl
            )
        return True

    def records_delete(self, name: str, type: str | None) -> int:
        found = ZoneRecord.objects.filter(name=name.lower(), zone=platform_zone())
        if type is not None:
            found = found.filter(type=type)
        deleted, _ = found.delete()
        return deleted

    def custom_hostname_ensure(self, hostname: str, origin: str) -> CustomHostname:
        return CustomHostname(hostname, "", Certificate.NOT_NEEDED, LOCAL_CERTIFICATE)

    def custom_hostname_get(self, hostname: str, reference: str) -> CustomHostname | None:
        return CustomHostname(hostname, "", Certificate.NOT_NEEDED, LOCAL_CERTIFICATE)

    def custom_hostname_remove(self, hostname: str, reference: str) -> None:
        return None  # nothing outside the site's own server block, which its pipeline rewrites

    def check(self) -> str:
        from dns import lookup

        zone = platform_zone()
        count = ZoneRecord.objects.filter(zone=zone).count()
        where = f"{settings.DNS_SERVER_HOST}:{settings.DNS_SERVER_PORT}"
        # Short: /readyz and setup_platform report it, and must not hang on a server that is down.
        answer = lookup.query(zone, "SOA", resolvers=[where], timeout=0.5)
        if answer.unreachable:
            raise DnsError(
                f"zone {zone} ({count} records): its server on {where} does not answer (`make run` starts it)"
            )
        return f"zone {zone} with {count} records, served on {where}"
