"""An nginx server block per site on SITES_PORT, JSON access log per site, `nginx -t` before reload."""

from pathlib import Path
from string import Template

from django.conf import settings

from sites.runtimes.base import SiteSpec
from sites.runtimes.local import files, pool, server

TEMPLATES = Path(settings.BASE_DIR) / "wordpress-runtime"


def site_conf(key: str) -> Path:
    return server.nginx_sites_dir() / f"{key}.conf"


def access_log(key: str) -> Path:
    return files.site_dir(key) / "logs" / "access.log"


def render(spec: SiteSpec, *, suspended: bool = False) -> str:
    template = "nginx-suspended.conf.template" if suspended else "nginx-site.conf.template"
    return Template((TEMPLATES / template).read_text()).safe_substitute(
        LISTEN=settings.SITES_PORT,
        SERVER_NAME=spec.hostname,
        DOCROOT=files.docroot(spec.key),
        ACCESS_LOG=access_log(spec.key),
        ERROR_LOG=files.site_dir(spec.key) / "logs" / "nginx-error.log",
        FASTCGI_PASS=f"unix:{pool.socket_path(spec.key)}",
        FASTCGI_PARAMS="/etc/nginx/fastcgi_params",
    )


def ensure_server_block(spec: SiteSpec, *, suspended: bool = False) -> str:
    (files.site_dir(spec.key) / "logs").mkdir(parents=True, exist_ok=True)
    rendered = render(spec, suspended=suspended)
    # On a refusal the previous block is put back: the other sites keep being served.
    changed = server.apply_config(
        site_conf(spec.key), rendered, test=server.nginx_test, reload=server.nginx_reload, what="The nginx server block"
    )
    if not changed:
        return f"server block for {spec.hostname} unchanged"
    return f"{'suspended page' if suspended else 'server block'} for {spec.hostname} on port {settings.SITES_PORT}"


def server_block_present(key: str) -> bool:
    return site_conf(key).exists()


def remove_server_block(key: str) -> None:
    if site_conf(key).exists():
        site_conf(key).unlink()
        server.nginx_reload()
