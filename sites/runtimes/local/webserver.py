"""An nginx server block per site on SITES_PORT, JSON access log per site, `nginx -t` before reload,
and the site's full-page cache (docs/page-cache.md): its own zone and folder, emptied by the platform."""

import contextlib
import hashlib
import os
import re
import shutil
import uuid
from pathlib import Path
from string import Template
from urllib.parse import urlsplit

from django.conf import settings

from sites import page_cache
from sites.runtimes.local import files, pool, server, system_user
from sites.spec import SiteSpec

TEMPLATES = Path(settings.BASE_DIR) / "wordpress-runtime"
# Where the site's plugin finds its purge token: in the site's own folder (root's, readable by the
# site's group), which open_basedir lets its PHP read and nginx never serves.
TOKEN_FILE = "cache-purge.token"  # noqa: S105 - a file's name, not a secret
# The plugin asks the platform for a purge here, on the site's own server block.
PURGE_PATH = "/_aipress/cache/purge"
# A kept page not asked for within this long leaves the cache, however long it would stay valid.
CACHE_INACTIVE = "60m"
# What a cached page's key is made of (the same for every site; each has a zone of its own). No
# scheme: nginx here only ever speaks plain HTTP, whatever is in front of it.
CACHE_KEY = "$request_method $host$request_uri"
CACHED_METHODS = ("GET", "HEAD")
CACHE_SKIPS = (
    "$aipress_cache_skip_method $aipress_cache_skip_cookie $aipress_cache_skip_path "
    "$aipress_cache_skip_args $aipress_cache_skip_script $http_authorization"
)


def site_conf(key: str) -> Path:
    return server.nginx_sites_dir() / f"{key}.conf"


def access_log(key: str) -> Path:
    # Written by nginx's master (root): never inside a folder the site could plant a link in.
    return server.site_logs_dir() / f"{key}.access.log"


def error_log(key: str) -> Path:
    return server.site_logs_dir() / f"{key}.error.log"


def cache_dir(key: str) -> Path:
    return server.page_cache_dir() / key


def token_file(key: str) -> Path:
    return files.site_dir(key) / TOKEN_FILE


# What may reach nginx's server_name: hostnames only (the services validated them; this is the last line).
_HOSTNAME = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$")


def server_names(spec: SiteSpec) -> str:
    names = [name for name in spec.hostnames if _HOSTNAME.fullmatch(name) and ".." not in name]
    return " ".join(dict.fromkeys(names))


def _page_cache(spec: SiteSpec) -> dict[str, str]:
    """The placeholders of the template that make the site's page cache (all empty without one)."""
    if not settings.SITES_PAGE_CACHE:
        return {"PAGE_CACHE_ZONE": "", "PAGE_CACHE_PURGE": "", "PAGE_CACHE": ""}
    key, seconds = spec.key, int(settings.SITES_PAGE_CACHE_SECONDS)
    upstream = str(settings.SITES_CACHE_PURGE_UPSTREAM).rstrip("/")
    tenant_host = f"{spec.tenant_slug}.{settings.PLATFORM_DOMAIN}"
    zone = (
        "# This site's full-page cache: a zone and a folder of its own (docs/page-cache.md).\n"
        f"fastcgi_cache_path {cache_dir(key)} levels=1:2 keys_zone={key}:{settings.SITES_PAGE_CACHE_KEYS_MB}m "
        f"max_size={settings.SITES_PAGE_CACHE_MAX_MB}m inactive={CACHE_INACTIVE} use_temp_path=off;"
    )
    purge = f"""# The site's plugin asks the platform to empty this cache here: nginx forwards the request, so
    # the site's PHP never connects to the control plane, and the platform checks the site's token.
    location = {PURGE_PATH} {{
        limit_except POST {{ deny all; }}
        client_max_body_size 64k;
        proxy_pass {upstream}/api/v1/sites/{spec.slug}/cache/purge;
        proxy_set_header Host {tenant_host};
        proxy_set_header Authorization "";
        proxy_set_header Cookie "";
        proxy_set_header X-Forwarded-For "";
        proxy_connect_timeout 5s;
        proxy_read_timeout 30s;
    }}"""
    cache = f"""# The full-page cache: WordPress's front controller, for anonymous GET and HEAD only (the
        # rules are in nginx.conf); a response that sets a cookie or says private or no-store is
        # never kept (nginx's own rules). X-Cache says HIT, MISS or BYPASS.
        fastcgi_cache {key};
        fastcgi_cache_key "{CACHE_KEY}";
        fastcgi_cache_valid 200 301 404 {seconds}s;
        fastcgi_cache_bypass {CACHE_SKIPS};
        fastcgi_no_cache {CACHE_SKIPS};
        fastcgi_cache_lock on;
        add_header X-Cache $aipress_cache_status always;
        # What the site's plugin needs (wordpress-runtime/mu-plugins/aipress-cache.php).
        fastcgi_param AIPRESS_PAGE_CACHE_SECONDS {seconds};
        fastcgi_param AIPRESS_CACHE_PURGE_URL http://127.0.0.1:{settings.SITES_PORT}{PURGE_PATH};
        fastcgi_param AIPRESS_CACHE_PURGE_HOST {spec.hostname}:{settings.SITES_PORT};
        fastcgi_param AIPRESS_CACHE_PURGE_TOKEN_FILE {token_file(key)};"""
    return {"PAGE_CACHE_ZONE": zone, "PAGE_CACHE_PURGE": purge, "PAGE_CACHE": cache}


def render(spec: SiteSpec, *, suspended: bool = False) -> str:
    template = "nginx-suspended.conf.template" if suspended else "nginx-site.conf.template"
    return Template((TEMPLATES / template).read_text()).safe_substitute(
        LISTEN=settings.SITES_PORT,
        SERVER_NAME=server_names(spec),
        DOCROOT=files.docroot(spec.key),
        ACCESS_LOG=access_log(spec.key),
        ERROR_LOG=error_log(spec.key),
        FASTCGI_PASS=f"unix:{pool.socket_path(spec.key)}",
        FASTCGI_PARAMS="/etc/nginx/fastcgi_params",
        # A link the site made must not let nginx (which can read every site) serve another's file.
        DISABLE_SYMLINKS="if_not_owner from=$document_root",
        **_page_cache(spec),
    )


def _write_token(spec: SiteSpec) -> None:
    """The site's purge token, for its plugin: root's file in the site's root-owned folder, readable
    by the site's group (its PHP, and nginx, which never serves it: it is outside the docroot)."""
    ids = system_user.ids(spec.key)
    with server.config_lock():
        server.write_atomically(
            token_file(spec.key),
            page_cache.purge_token(spec.tenant_id, spec.site_id),
            0o440 if ids else 0o600,
            group=ids[1] if ids else None,
        )


def ensure_server_block(spec: SiteSpec, *, suspended: bool = False) -> str:
    if settings.SITES_PAGE_CACHE and not suspended and files.site_dir(spec.key).is_dir():
        _write_token(spec)
    rendered = render(spec, suspended=suspended)
    # On a refusal nothing nginx reads has changed: the other sites keep being served.
    changed = server.apply_config(
        site_conf(spec.key), rendered, daemon=server.NGINX_DAEMON, what="The nginx server block"
    )
    if not changed:
        return f"server block for {spec.hostname} unchanged"
    return f"{'suspended page' if suspended else 'server block'} for {spec.hostname} on port {settings.SITES_PORT}"


def server_block_present(key: str) -> bool:
    """The block is there, and a serving one has its page cache and its purge token: the block of a
    site made before the page cache counts as missing, so the reconciler's repair renders it anew."""
    conf = site_conf(key)
    if not conf.exists():
        return False
    text = conf.read_text()
    if not settings.SITES_PAGE_CACHE or "fastcgi_pass" not in text:
        return True  # no cache wanted, or the suspended page (which reaches no PHP)
    return PURGE_PATH in text and token_file(key).exists()


def remove_server_block(key: str) -> None:
    server.remove_config(site_conf(key), daemon=server.NGINX_DAEMON)
    _discard(cache_dir(key))
    with contextlib.suppress(OSError):
        cache_dir(key).rmdir()
    token_file(key).unlink(missing_ok=True)


def remove_logs(key: str) -> None:
    access_log(key).unlink(missing_ok=True)
    error_log(key).unlink(missing_ok=True)


# --- Emptying the cache ----------------------------------------------------------------------------


def cached_file(key: str, url: str, method: str) -> Path:
    """Where nginx keeps the page `url` asked with `method`: the md5 of its cache key (CACHE_KEY),
    in the levels=1:2 folders (the last hex digit, then the two before it)."""
    parts = urlsplit(url)
    request_uri = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    digest = hashlib.md5(f"{method} {(parts.hostname or '').lower()}{request_uri}".encode()).hexdigest()  # noqa: S324 - nginx's own naming
    return cache_dir(key) / digest[-1] / digest[-3:-1] / digest


def _discard(folder: Path) -> int:
    """Move everything in `folder` out of nginx's way at once (renames), then delete it; how many
    files went. A page being written meanwhile lands in the moved folder and goes with it."""
    if not folder.is_dir():
        return 0
    trash = server.page_cache_trash_dir() / uuid.uuid4().hex
    trash.mkdir(parents=True)
    for entry in list(folder.iterdir()):
        try:
            os.rename(entry, trash / entry.name)
        except FileNotFoundError:
            continue  # nginx's cache manager removed it meanwhile
    count = sum(len(names) for _, _, names in os.walk(trash))
    shutil.rmtree(trash, ignore_errors=True)
    return count


def purge_cache(spec: SiteSpec, urls: tuple[str, ...]) -> str:
    """Empty the site's pages at `urls` (absolute, on the site's names), or every page when empty.
    nginx takes a missing file for a page it does not have: the next request makes it again."""
    if not urls:
        count = _discard(cache_dir(spec.key))
        return f"every cached page emptied ({count} file{'s' if count != 1 else ''})"
    removed = 0
    for url in urls:
        for method in CACHED_METHODS:
            try:
                cached_file(spec.key, url, method).unlink()
            except FileNotFoundError:
                continue
            removed += 1
    copies = f"{removed} cached cop{'ies' if removed != 1 else 'y'}"
    return f"{copies} of {len(urls)} page{'s' if len(urls) != 1 else ''} emptied"
