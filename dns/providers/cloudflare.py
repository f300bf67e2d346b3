"""The Cloudflare provider: the platform's zone (SITES_DOMAIN) kept on Cloudflare, and the tenants'
own domains as Cloudflare for SaaS custom hostnames, through the official `cloudflare` SDK.

Settings are read at every call, so a changed token or zone applies without a restart. Every SDK
error becomes a DnsError that names what was being done, Cloudflare's own code and words, and what
to change; the token never appears in one."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Literal, cast
from urllib.parse import urlsplit, urlunsplit

import cloudflare
from cloudflare.types.custom_hostnames import (
    CustomHostnameCreateResponse,
    CustomHostnameEditResponse,
    CustomHostnameGetResponse,
    CustomHostnameListResponse,
)
from cloudflare.types.dns import RecordResponse
from django.conf import settings

from dns.providers.base import RECORD_TYPES, Certificate, CustomHostname, DnsError, HostnameStep, Record

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"
TIMEOUT_SECONDS = 10.0
MAX_RETRIES = 2
PER_PAGE = 100
AUTOMATIC_TTL = 1  # Cloudflare's "automatic": 300 seconds, and the only TTL a proxied record has
AUTOMATIC_TTL_SECONDS = 300
PROXIABLE = frozenset({"A", "AAAA", "CNAME"})
PERMISSIONS = "Zone DNS Edit and SSL and Certificates Edit, and Cache Purge, on the zone"
# Purge by URL takes at most 30 URLs a request on every plan but Enterprise (500). The limits table
# of Cloudflare's docs now says 100, but that is for hostnames, tags and prefixes: URLs stayed at 30
# (cloudflare-docs issue 21338). Hostnames: 100 a request on every plan.
PURGE_FILES_PER_REQUEST = 30
PURGE_HOSTS_PER_REQUEST = 100
TOKEN_CODES = frozenset({1000, 6003, 6102, 6103, 6111, 9106, 9109, 10000})
DUPLICATE_RECORD_CODES = frozenset({81053, 81054, 81057})
DUPLICATE_HOSTNAME_CODE = 1406
ZONE_CODES = frozenset({1001, 7003})
# Certificate states that will not become active without someone acting (besides every "*_timed_out").
FAILED_SSL = frozenset({"deleted", "expired"})
# Hostname states in which Cloudflare will not serve the domain whatever its certificate.
FAILED_HOSTNAME = frozenset({"blocked", "moved", "deleted"})

RecordType = Literal["A", "AAAA", "CNAME", "TXT"]
Hostname = (
    CustomHostnameCreateResponse | CustomHostnameEditResponse | CustomHostnameGetResponse | CustomHostnameListResponse
)


@functools.lru_cache(maxsize=8)
def _client(token: str, base_url: str, retries: int) -> cloudflare.Cloudflare:
    client = cloudflare.Cloudflare(api_token=token, base_url=base_url, timeout=TIMEOUT_SECONDS, max_retries=retries)
    # The SDK also takes CLOUDFLARE_API_KEY, CLOUDFLARE_EMAIL and CLOUDFLARE_API_USER_SERVICE_KEY from the
    # environment and prefers them to the token: the platform authenticates with its token alone.
    client.api_key = client.api_email = client.user_service_key = None
    return client


def _session(retries: int = MAX_RETRIES) -> tuple[cloudflare.Cloudflare, str]:
    token, zone = str(settings.CLOUDFLARE_API_TOKEN or ""), str(settings.CLOUDFLARE_ZONE_ID or "")
    if not token:
        raise DnsError(f"CLOUDFLARE_API_TOKEN is not set: set it to a Cloudflare API token with {PERMISSIONS}.")
    if not zone:
        raise DnsError(
            f"CLOUDFLARE_ZONE_ID is not set: set it to the id of the Cloudflare zone of {_zone_name()} "
            "(on the zone's Overview page in the Cloudflare dashboard)."
        )
    return _client(token, str(settings.CLOUDFLARE_BASE_URL or "") or DEFAULT_BASE_URL, retries), zone


def _fqdn(name: str) -> str:
    return name.strip().lower().rstrip(".")


def _zone_name() -> str:
    return _fqdn(str(settings.SITES_DOMAIN))


def _inside(name: str, zone: str) -> bool:
    return name == zone or name.endswith(f".{zone}")


def _in_zone(name: str) -> str:
    name, zone = _fqdn(name), _zone_name()
    if not _inside(name, zone):
        raise DnsError(f"{name} is outside the platform's zone {zone}: the platform writes no record there.")
    return name


def _codes(error: cloudflare.APIStatusError) -> tuple[set[int], str]:
    """Cloudflare's error codes in the body (with their error_chain), and its words for people."""
    body = error.body if isinstance(error.body, dict) else {}
    codes: set[int] = set()
    words: list[str] = []
    for item in body.get("errors") or []:
        entries = [item, *(item.get("error_chain") or [])] if isinstance(item, dict) else []
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("code"), int):
                codes.add(entry["code"])
                words.append(f"{entry['code']} {entry.get('message') or ''}".strip())
    return codes, f"Cloudflare: {'; '.join(words) or f'HTTP {error.status_code}'}"


def _explained(action: str, error: cloudflare.APIStatusError) -> str:
    codes, words = _codes(error)
    if error.status_code == 429:
        return f"Cloudflare is limiting the rate of requests and refused to {action} ({words}): try again in a minute."
    if codes & DUPLICATE_RECORD_CODES:
        return (
            f"Cloudflare refused to {action}: a record already exists at that name ({words}). Remove it in the "
            "Cloudflare dashboard, or let the platform replace it by ensuring the site's hostname again."
        )
    if DUPLICATE_HOSTNAME_CODE in codes:
        return (
            f"Cloudflare refused to {action}: it is already added to Cloudflare (by this zone or another) ({words}). "
            "If another Cloudflare account has it, its owner must remove it there first."
        )
    if codes & ZONE_CODES or (error.status_code == 404 and not codes):
        return (
            f"Cloudflare has no zone {settings.CLOUDFLARE_ZONE_ID} for this token and could not {action} ({words}): "
            f"check CLOUDFLARE_ZONE_ID (the id of the zone of {_zone_name()}, on its Overview page)."
        )
    if error.status_code in (401, 403) or codes & TOKEN_CODES:
        return (
            f"Cloudflare refused the API token when asked to {action} ({words}): set CLOUDFLARE_API_TOKEN to a "
            f"token with {PERMISSIONS}."
        )
    return f"Cloudflare refused to {action} (HTTP {error.status_code}; {words})."


@contextmanager
def _answering(action: str) -> Iterator[None]:
    """Turn the SDK's errors inside the block into DnsErrors about `action`."""
    try:
        yield
    except cloudflare.APIConnectionError as error:  # timeouts included
        raise _error(f"Cloudflare could not be reached to {action}: {error.message}") from error
    except cloudflare.APIStatusError as error:
        raise _error(_explained(action, error)) from error
    except cloudflare.APIError as error:
        raise _error(f"Cloudflare's answer to {action} could not be read: {error.message}") from error


def _error(message: str) -> DnsError:
    token = str(settings.CLOUDFLARE_API_TOKEN or "")
    return DnsError(message.replace(token, "<token>") if token else message)


def _zone_missing(error: cloudflare.NotFoundError) -> bool:
    """Whether a 404 is about the zone (a setting to fix) rather than the object asked for (gone)."""
    return bool(_codes(error)[0] & ZONE_CODES)


def _content(found: RecordResponse) -> str:
    content = found.content or ""
    if found.type == "TXT" and content.startswith('"'):
        # Cloudflare quotes TXT content, split in strings of at most 255 characters: join them back.
        return "".join(re.findall(r'"((?:[^"\\]|\\.)*)"', content))
    return content


def _record(found: RecordResponse) -> Record:
    ttl = AUTOMATIC_TTL_SECONDS if found.ttl == AUTOMATIC_TTL else int(found.ttl)
    return Record(_fqdn(found.name), found.type, _content(found), ttl)


def _custom(found: Hostname) -> CustomHostname:
    ssl = found.ssl
    status = (ssl.status if ssl else None) or "initializing"
    problems = [error.message for error in (ssl.validation_errors or []) if error.message] if ssl else []
    if status == "active" and found.status == "active":
        certificate = Certificate.ACTIVE
    elif status in FAILED_SSL or status.endswith("_timed_out") or found.status in FAILED_HOSTNAME:
        certificate = Certificate.FAILED
    else:
        certificate = Certificate.PENDING
        problems += found.verification_errors or []
    detail = f"certificate {status.replace('_', ' ')}"
    if found.status != "active":
        # Cloudflare serves the domain only once the hostname itself is active (its ownership TXT).
        detail += f", hostname {found.status or 'pending'}"
    records: list[Record] = []
    ownership = found.ownership_verification
    if certificate != Certificate.ACTIVE and ownership and ownership.name and ownership.value:
        records.append(Record(_fqdn(ownership.name), "TXT", ownership.value))
    for wanted in (ssl.validation_records or []) if ssl else []:
        if wanted.txt_name and wanted.txt_value:
            records.append(Record(_fqdn(wanted.txt_name), "TXT", wanted.txt_value))
    return CustomHostname(
        found.hostname, found.id, certificate, "; ".join([detail, *problems]), tuple(dict.fromkeys(records))
    )


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _edge_urls(url: str, names: set[str]) -> list[str]:
    """`url` as visitors ask the edge for it: on the standard ports, over HTTPS and plain HTTP (two
    entries of Cloudflare's cache, whose key holds the scheme). Nothing for a name not the site's."""
    parts = urlsplit(url)
    host = _fqdn(parts.hostname or "")
    if host not in names:
        return []
    return [urlunsplit((scheme, host, parts.path or "/", parts.query, "")) for scheme in ("https", "http")]


class CloudflareProvider(HostnameStep):
    name = "cloudflare"
    # Proxied records and custom hostnames go through Cloudflare's edge: the CDN in front of sites.
    edge = True

    def edge_purge(self, hostnames: list[str], urls: list[str]) -> str:
        """Purge by URL, or by hostname for every page of the site: never purge_everything, which
        would empty the cache of every tenant's sites in the platform's zone."""
        names = list(dict.fromkeys(_fqdn(name) for name in hostnames))
        client, zone = _session()
        if not urls:
            for batch in _batches(names, PURGE_HOSTS_PER_REQUEST):
                with _answering(f"purge the cache of {', '.join(batch)}"):
                    client.cache.purge(zone_id=zone, hosts=batch)
            return f"every page of {', '.join(names)} purged"
        files = list(dict.fromkeys(found for url in urls for found in _edge_urls(url, set(names))))
        for batch in _batches(files, PURGE_FILES_PER_REQUEST):
            with _answering(f"purge {len(batch)} URLs of {', '.join(names)} from the cache"):
                client.cache.purge(zone_id=zone, files=batch)
        return f"{len(files)} URLs purged (HTTPS and HTTP)"

    def records_at(self, name: str) -> list[Record]:
        name = _fqdn(name)
        if not _inside(name, _zone_name()):
            return []  # the platform keeps nothing outside its zone
        return [_record(found) for found in self._listed(name, None)]

    def record_set(self, record: Record) -> bool:
        name = _in_zone(record.name)
        if record.type not in RECORD_TYPES:
            raise DnsError(f"The platform writes no {record.type} record: only {', '.join(RECORD_TYPES)}.")
        kind = cast(RecordType, record.type)
        proxied = kind in PROXIABLE and bool(settings.CLOUDFLARE_PROXIED)
        ttl = AUTOMATIC_TTL if proxied else record.ttl
        existing = self._listed(name, kind)
        # Keep the record that already says the right thing, if any: it needs no write at all.
        keep = next((found for found in existing if _content(found) == record.content), None)
        keep = keep or (existing[0] if existing else None)
        client, zone = _session()
        changed = False
        if keep is None:
            changed = self._created(record, proxied, ttl)
        elif (_content(keep), bool(keep.proxied), keep.ttl) != (record.content, proxied, ttl):
            with _answering(f"update the {kind} record {name}"):
                client.dns.records.update(
                    keep.id, zone_id=zone, name=name, type=kind, content=record.content, ttl=ttl, proxied=proxied
                )
            changed = True
        for extra in existing:
            if extra is not keep:
                changed = self._deleted(client, zone, extra) or changed
        return changed

    def records_delete(self, name: str, type: str | None) -> int:
        name = _fqdn(name)
        if not _inside(name, _zone_name()):
            return 0
        client, zone = _session()
        return sum(self._deleted(client, zone, found) for found in self._listed(name, type))

    def custom_hostname_ensure(self, hostname: str, origin: str) -> CustomHostname:
        hostname, origin, zone_name = _fqdn(hostname), _in_zone(origin), _zone_name()
        if _inside(hostname, zone_name):
            raise DnsError(f"{hostname} is in the platform's zone {zone_name}: it needs no custom hostname.")
        client, zone = _session()
        found: Hostname | None = self._find(hostname)
        if found is None:
            found = self._hostname_created(hostname, origin)
        elif found.custom_origin_server != origin:
            with _answering(f"point the custom hostname {hostname} at {origin}"):
                found = client.custom_hostnames.edit(found.id, zone_id=zone, custom_origin_server=origin) or found
        return _custom(found)

    def custom_hostname_get(self, hostname: str, reference: str) -> CustomHostname | None:
        hostname = _fqdn(hostname)
        if reference:
            client, zone = _session()
            with _answering(f"read the custom hostname {hostname}"):
                try:
                    by_id = client.custom_hostnames.get(reference, zone_id=zone)
                except cloudflare.NotFoundError as error:
                    if _zone_missing(error):
                        raise
                    return None
            if by_id is not None and _fqdn(by_id.hostname) == hostname:
                return _custom(by_id)
        # No reference, or one of another hostname (a stale one): the hostname's own entry, if any.
        found = self._find(hostname)
        return _custom(found) if found else None

    def custom_hostname_remove(self, hostname: str, reference: str) -> None:
        hostname = _fqdn(hostname)
        if not reference:
            found = self._find(hostname)
            if found is None:
                return
            reference = found.id
        client, zone = _session()
        with _answering(f"remove the custom hostname {hostname}"):
            try:
                client.custom_hostnames.delete(reference, zone_id=zone)
            except cloudflare.NotFoundError as error:
                if _zone_missing(error):
                    raise

    def check(self) -> str:
        client, zone = _session()
        with _answering("read the zone"):
            found = client.zones.get(zone_id=zone)
        if found is None:
            raise DnsError(f"Cloudflare answered no zone for CLOUDFLARE_ZONE_ID {zone}: check it.")
        if not _inside(_zone_name(), _fqdn(found.name)):
            raise DnsError(
                f"SITES_DOMAIN {_zone_name()} is not in the Cloudflare zone {found.name} (CLOUDFLARE_ZONE_ID): "
                "set one of them to match the other."
            )
        return f"Cloudflare zone {found.name} (id {found.id}), {found.status or 'status unknown'}"

    # Helpers

    def _listed(self, name: str, type: str | None) -> list[RecordResponse]:
        """The records at exactly `name` (of one type, or every type the platform writes)."""
        client, zone = _session()
        with _answering(f"list the records at {name}"):
            if type is None:
                page = client.dns.records.list(zone_id=zone, name={"exact": name}, per_page=PER_PAGE)
            else:
                page = client.dns.records.list(
                    zone_id=zone, name={"exact": name}, type=cast(RecordType, type), per_page=PER_PAGE
                )
            found = list(page.result)
            # A short page is the last one: no request for an empty page after it (as iterating would).
            while len(page.result) >= PER_PAGE:
                page = page.get_next_page()
                found.extend(page.result)
        # Filtered here too: a name filter the API ignored must not make other names look like ours.
        return [r for r in found if _fqdn(r.name) == name and r.type in RECORD_TYPES and type in (None, r.type)]

    def _created(self, record: Record, proxied: bool, ttl: int) -> bool:
        name, kind = _fqdn(record.name), cast(RecordType, record.type)
        client, zone = _session()
        with _answering(f"create the {kind} record {name}"):
            try:
                client.dns.records.create(
                    zone_id=zone, name=name, type=kind, content=record.content, ttl=ttl, proxied=proxied
                )
            except cloudflare.BadRequestError as error:
                # Made meanwhile by someone else (another worker, the dashboard): already as wanted.
                if 81057 in _codes(error)[0] and any(_content(r) == record.content for r in self._listed(name, kind)):
                    return False
                raise
        return True

    def _deleted(self, client: cloudflare.Cloudflare, zone: str, found: RecordResponse) -> bool:
        with _answering(f"delete the {found.type} record {found.name}"):
            try:
                client.dns.records.delete(found.id, zone_id=zone)
            except cloudflare.NotFoundError as error:
                if _zone_missing(error):
                    raise
                return False  # gone already
        return True

    def _find(self, hostname: str) -> CustomHostnameListResponse | None:
        client, zone = _session()
        with _answering(f"look up the custom hostname {hostname}"):
            page = client.custom_hostnames.list(zone_id=zone, hostname={"exact": hostname})
        return next((found for found in page.result if _fqdn(found.hostname) == hostname), None)

    def _hostname_created(self, hostname: str, origin: str) -> Hostname:
        # Without the SDK's retries: it retries a 409 as if it were a lock timeout, but here it means the
        # hostname exists, which no retry changes.
        client, zone = _session(retries=0)
        action = f"add the custom hostname {hostname}"
        with _answering(action):
            try:
                created = client.custom_hostnames.create(
                    zone_id=zone,
                    hostname=hostname,
                    custom_origin_server=origin,
                    ssl={"method": "txt", "type": "dv", "settings": {"min_tls_version": "1.2"}},
                )
            except cloudflare.ConflictError:
                # Added by this zone meanwhile (another worker): adopt it. By another zone: refuse.
                again = self._find(hostname)
                if again is None:
                    raise
                return again
        if created is None:
            raise DnsError(f"Cloudflare answered the request to {action} without the hostname it made.")
        return created
