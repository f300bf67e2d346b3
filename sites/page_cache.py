"""The full-page cache, as every runtime and the CDN share it (docs/page-cache.md).

A site's anonymous pages are kept by its runtime (the local runtime's nginx) and by the CDN in front
of it (Cloudflare, which the DNS provider drives), and emptied whenever its content changes: by the
must-use plugin the platform installs in every site (wordpress-runtime/mu-plugins/aipress-cache.php),
and by people (the API, the chat, the portal). sites.services.site_cache_purge does the emptying.

The plugin is the site's own PHP, so it holds no credential of the platform's or of Cloudflare's:
only the site's **purge token**, which opens exactly one door, emptying that one site's cache. It is
an HMAC of the site's identity (tenant id and site id, never reused) under the platform's SECRET_KEY,
so it needs no storage, is checked without asking the secret store, and is the same wherever the
site is given it (a file of the site's on this host, the service's environment on Cloud Run).
"""

import hmac
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, cast, runtime_checkable
from urllib.parse import urlsplit, urlunsplit

from django.conf import settings
from django.utils.crypto import salted_hmac

from kernel import drivers
from kernel.errors import InvalidInput
from sites.spec import SiteSpec

if TYPE_CHECKING:
    from tenants.models import Tenant

# The header the plugin sends its token in (never Authorization: that one is for API keys).
TOKEN_HEADER = "X-AIPress-Purge-Token"  # noqa: S105 - a header's name, not a secret
_TOKEN_SALT = "aipress.sites.page_cache.purge_token"  # noqa: S105 - a namespace for the HMAC, not a secret
# At most this many URLs in one purge (the CDN is asked in batches of what it takes per request).
MAX_URLS = 100
MAX_URL_LENGTH = 2048
MAX_REASON_LENGTH = 200
# What the health check says of the home page's second request (runtimes write it, the portal reads it).
CHECK_SAID = "page cache: X-Cache {}"
_CHECK_FOUND = re.compile(r"page cache: X-Cache (HIT|MISS|BYPASS)")
# The step name of a purge's SiteEvent, in the site's timeline.
EVENT_STEP = "cache"


def purge_token(tenant_id: int, site_id: int, *, secret: str | None = None) -> str:
    """The site's purge token (64 hex characters)."""
    return salted_hmac(
        _TOKEN_SALT, f"t{tenant_id}_s{site_id}", secret=secret or settings.SECRET_KEY, algorithm="sha256"
    ).hexdigest()


def purge_token_valid(tenant_id: int, site_id: int, token: str) -> bool:
    """Whether `token` is this site's, under the secret key or one being rotated out."""
    if not isinstance(token, str) or not re.fullmatch(r"[0-9a-f]{64}", token):
        return False
    secrets = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return any(hmac.compare_digest(token, purge_token(tenant_id, site_id, secret=secret)) for secret in secrets)


def token_site(*, tenant: "Tenant", name: str, token: str) -> int | None:
    """The id of the tenant's live site `name` when `token` is its purge token; None otherwise (an
    unknown site and another site's token alike: the caller learns nothing of what exists)."""
    from django_tenants.utils import tenant_context

    from sites.models import Site, SiteStatus

    if not isinstance(token, str) or not isinstance(name, str):
        return None
    with tenant_context(tenant):
        site_id = (
            Site.objects.exclude(status__in=(SiteStatus.DELETED, SiteStatus.DELETING))
            .filter(slug=name.strip().lower())
            .values_list("pk", flat=True)
            .first()
        )
    return site_id if site_id is not None and purge_token_valid(tenant.pk, site_id, token) else None


def checked_reason(reason: Any) -> str:
    """What the plugin says changed ("post published"): one short line, or nothing."""
    if reason is None:
        return ""
    if not isinstance(reason, str) or len(reason) > MAX_REASON_LENGTH or any(ord(c) < 32 for c in reason):
        raise InvalidInput(f"Say why in one line of at most {MAX_REASON_LENGTH} characters.", field="reason")
    return reason.strip()


def checked_urls(urls: Any, hostnames: tuple[str, ...], scheme: str) -> tuple[str, ...]:
    """The pages to empty as absolute URLs on the site's own names; () for every page.

    Each entry is an address of the site (`https://blog--acme.example.com/about/`, on its platform
    name or one of its verified domains) or a path (`/about/`, meaning it on every name of the site).
    """
    if urls is None:
        return ()
    if not isinstance(urls, list) or not urls:
        raise InvalidInput("Give urls as a list of the site's addresses or paths, or leave it out to empty every page.",
                           field="urls")  # fmt: skip
    if len(urls) > MAX_URLS:
        raise InvalidInput(f"At most {MAX_URLS} URLs at once; leave urls out to empty every page.", field="urls")
    names = [name.lower() for name in hostnames]
    found: list[str] = []
    for url in urls:
        if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH or any(ord(c) <= 32 for c in url):
            raise InvalidInput(f"Not an address or a path: {str(url)[:80]!r}.", field="urls")
        if url.startswith("/") and not url.startswith("//"):
            path, _, query = url.partition("?")
            found += [urlunsplit((scheme, name, path, query, "")) for name in names]
            continue
        parts = urlsplit(url)
        try:
            port = parts.port
        except ValueError:
            port = -1
        host = (parts.hostname or "").lower()
        if parts.scheme not in ("http", "https") or not host or parts.username or parts.password or port == -1:
            raise InvalidInput(f"Not an address of the site (https://host/path) or a path (/path): {url[:80]!r}.",
                               field="urls")  # fmt: skip
        if host not in names:
            raise InvalidInput(f"{host} is not one of this site's names ({', '.join(names)}).", field="urls")
        netloc = f"{host}:{port}" if port else host
        found.append(urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")))
    return tuple(dict.fromkeys(found))


@dataclass(frozen=True)
class Purge:
    """What a purge did: at the origin (the runtime) at once, and at the CDN (queued)."""

    site: str
    urls: tuple[str, ...]  # () for every page
    origin: str  # what the runtime said it emptied
    edge: str  # "queued" (the CDN is asked in the background) or "none" (no CDN in front)

    @property
    def everything(self) -> bool:
        return not self.urls

    @property
    def finished(self) -> bool:
        return self.edge != "queued"


@runtime_checkable
class CachePurging(Protocol):
    """A runtime that keeps pages itself (the local runtime's nginx). One that keeps none (Cloud Run:
    its instances come and go, the CDN keeps the pages) or a test runtime need not say anything."""

    def cache_purge(self, spec: SiteSpec, urls: tuple[str, ...]) -> str:
        """Empty the site's pages at `urls` (every page when empty); what was done, for people."""
        ...


class EdgeCache(Protocol):
    """The DNS provider seen as the CDN in front of sites (dns.providers: Cloudflare has an edge,
    the local provider has none). Named here so that sites does not import the app above it."""

    edge: bool

    def edge_purge(self, hostnames: list[str], urls: list[str]) -> str: ...


def origin_purge(spec: SiteSpec, urls: tuple[str, ...]) -> str:
    from sites.drivers import runtime

    found = runtime(spec.runtime)
    if isinstance(found, CachePurging):
        return found.cache_purge(spec, urls)
    return "nothing is cached by the runtime itself"


def edge_cache() -> EdgeCache | None:
    """The CDN in front of sites, when the DNS provider has one."""
    provider = cast(EdgeCache, drivers.driver("dns"))
    return provider if getattr(provider, "edge", False) else None


def last_check(detail: str) -> str | None:
    """HIT, MISS or BYPASS, as a health check's detail reports the home page's second request."""
    found = _CHECK_FOUND.search(detail or "")
    return found.group(1) if found else None
