"""An nginx server block per site on SITES_PORT, JSON access log per site, `nginx -t` before reload."""

import re
from pathlib import Path
from string import Template

from django.conf import settings

from sites.runtimes.local import files, pool, server
from sites.spec import SiteSpec

TEMPLATES = Path(settings.BASE_DIR) / "wordpress-runtime"


def site_conf(key: str) -> Path:
    return server.nginx_sites_dir() / f"{key}.conf"


def access_log(key: str) -> Path:
    # Written by nginx's master (root): never inside a folder the site could plant a link in.
    return server.site_logs_dir() / f"{key}.access.log"


def error_log(key: str) -> Path:
    return server.site_logs_dir() / f"{key}.error.log"


# What may reach nginx's server_name: hostnames only (the services validated them; this is the last line).
_HOSTNAME = re.compile(r"^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$")


def server_names(spec: SiteSpec) -> str:
    names = [name for name in spec.hostnames if _HOSTNAME.fullmatch(name) and ".." not in name]
    return " ".join(dict.fromkeys(names))


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
    )


def ensure_server_block(spec: SiteSpec, *, suspended: bool = False) -> str:
    rendered = render(spec, suspended=suspended)
    # On a refusal nothing nginx reads has changed: the other sites keep being served.
    changed = server.apply_config(
        site_conf(spec.key), rendered, daemon=server.NGINX_DAEMON, what="The nginx server block"
    )
    if not changed:
        return f"server block for {spec.hostname} unchanged"
    return f"{'suspended page' if suspended else 'server block'} for {spec.hostname} on port {settings.SITES_PORT}"


def server_block_present(key: str) -> bool:
    return site_conf(key).exists()


def remove_server_block(key: str) -> None:
    server.remove_config(site_conf(key), daemon=server.NGINX_DAEMON)


def remove_logs(key: str) -> None:
    access_log(key).unlink(missing_ok=True)
    error_log(key).unlink(missing_ok=True)
