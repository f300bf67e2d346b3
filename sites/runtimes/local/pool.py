"""A php-fpm pool per site: its own socket and user, ondemand, open_basedir, environment injected."""

from pathlib import Path
from string import Template

from django.conf import settings

from sites.runtimes.base import SiteSpec, StepError
from sites.runtimes.local import files, server, system_user

POOL_TEMPLATE = Path(settings.BASE_DIR) / "wordpress-runtime" / "php-fpm-pool.conf.template"


def pool_file(key: str) -> Path:
    return server.php_pools_dir() / f"{key}.conf"


def socket_path(key: str) -> Path:
    return server.sockets_dir() / f"{key}.sock"


def site_environment(spec: SiteSpec) -> dict[str, str]:
    """What the site's PHP sees: database credentials, salts, its URL, then the site's own env vars."""
    from sites.runtimes.local.database import database_name
    from sites.services_urls import site_url_for

    env = {
        "DB_NAME": database_name(spec.key),
        "DB_USER": database_name(spec.key),
        "DB_PASSWORD": spec.secrets["DB_PASSWORD"],
        "DB_HOST": "127.0.0.1",
        "WP_HOME": site_url_for(spec.hostname).rstrip("/"),
    }
    env.update({name: value for name, value in spec.secrets.items() if name.endswith(("_KEY", "_SALT"))})
    env.update(spec.env)
    return env


def _ini_value(value: str) -> str:
    if any(ch in value for ch in '"\n\r\0'):
        raise StepError("An environment value contains a quote or a line break, which php-fpm cannot carry.")
    return f'"{value}"'


def ensure_pool(spec: SiteSpec) -> str:
    site_dir = files.site_dir(spec.key)
    for folder in ("tmp", "logs"):
        (site_dir / folder).mkdir(parents=True, exist_ok=True)
    ids = system_user.ensure_user(spec.key, site_dir)
    system_user.close_site_dir(
        site_dir, ids, [site_dir / "tmp", site_dir / "logs", files.docroot(spec.key) / "wp-content"]
    )
    name = system_user.user_name(spec.key)
    rendered = Template(POOL_TEMPLATE.read_text()).substitute(
        POOL_NAME=spec.key,
        POOL_USER=f"user = {name}\ngroup = {name}" if ids else "",
        CLEAR_ENV="yes",
        LISTEN=socket_path(spec.key),
        LISTEN_OWNER=f"listen.owner = {name}\nlisten.group = {server.WEB_USER}" if ids else "",
        MAX_CHILDREN=spec.max_php_workers,
        SITE_DIR=site_dir,
        POOL_ENV="\n".join(f"env[{k}] = {_ini_value(v)}" for k, v in site_environment(spec).items()),
    )
    # Mode 0600: the pool holds the site's credentials, for the php-fpm master's eyes only.
    changed = server.apply_config(
        pool_file(spec.key),
        rendered,
        test=server.php_fpm_test,
        reload=server.php_fpm_reload,
        what="The PHP pool",
        mode=0o600,
    )
    if not changed:
        return f"pool {spec.key} unchanged"
    return f"pool {spec.key}: ondemand, at most {spec.max_php_workers} PHP workers"


def pool_present(key: str) -> bool:
    return pool_file(key).exists()


def remove_pool(key: str) -> None:
    if pool_file(key).exists():
        pool_file(key).unlink()
        server.php_fpm_reload()
