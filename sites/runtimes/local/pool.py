"""A php-fpm pool per site: its own socket and user, ondemand, open_basedir, and its environment.

The environment does not go into the pool file: php-fpm expands `${NAME}` in it from the master's
own environment, so a value like `x${DJANGO_SECRET_KEY}x` would have read the platform's secrets, and
a line break or a quote could not be carried at all. Instead the pool prepends a PHP file that the
platform renders with every value as a PHP string literal: what the site's PHP reads is exactly what
was typed, whatever it contains.

That file also sets open_basedir, at the start of each request rather than in the pool: set in the
pool, PHP turns its realpath cache off (wordpress-runtime/prepend.php.template says why, and
docs/site-performance.md what it cost).
"""

from pathlib import Path
from string import Template

from django.conf import settings

from sites.rules import refused
from sites.runtimes.local import files, server, system_user
from sites.spec import SiteSpec

POOL_TEMPLATE = Path(settings.BASE_DIR) / "wordpress-runtime" / "php-fpm-pool.conf.template"
PREPEND_TEMPLATE = Path(settings.BASE_DIR) / "wordpress-runtime" / "prepend.php.template"


def pool_file(key: str) -> Path:
    return server.php_pools_dir() / f"{key}.conf"


def socket_path(key: str) -> Path:
    return server.sockets_dir() / f"{key}.sock"


def env_file(key: str) -> Path:
    return server.php_env_dir() / f"{key}.php"


def site_environment(spec: SiteSpec) -> dict[str, str]:
    """What the site's PHP sees: database credentials, salts, its URL, then the site's own env vars."""
    from sites.runtimes.local.database import database_name, sites_db_host
    from sites.services_urls import site_url_for

    env = {
        "DB_NAME": database_name(spec.key),
        "DB_USER": database_name(spec.key),
        "DB_PASSWORD": spec.secrets["DB_PASSWORD"],
        "DB_HOST": sites_db_host(),
        "WP_HOME": site_url_for(spec.hostname).rstrip("/"),
        # The names WordPress may answer under (wp-config.php): the platform's and verified domains.
        "AIPRESS_HOSTNAMES": ",".join(spec.hostnames),
    }
    env.update({name: value for name, value in spec.secrets.items() if name.endswith(("_KEY", "_SALT"))})
    # A name refused now never reaches PHP, even if it was stored before the rule existed.
    env.update({name: value for name, value in spec.env.items() if not refused(name)})
    return env


def php_string(value: str) -> str:
    """A PHP single-quoted literal of `value`: only backslash and quote are special there."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def open_basedir(key: str) -> str:
    """What the site's PHP may open: its own folder, and this file (which PHP reads first)."""
    return f"{files.site_dir(key)}/:{env_file(key)}"


def render_env(environment: dict[str, str], allowed: str) -> str:
    """The PHP file the pool prepends: open_basedir set to `allowed`, then the environment."""
    entries = "".join(f"    {php_string(name)} => {php_string(value)},\n" for name, value in environment.items())
    # A closure, so nothing leaks into the site's global variables; the request's own FastCGI
    # parameters keep precedence in $_SERVER, as php-fpm's env[] did.
    environment_php = (
        "(static function (): void {\n"
        f"  foreach ([\n{entries}  ] as $name => $value) {{\n"
        "    putenv($name . '=' . $value);\n"
        "    $_ENV[$name] = $value;\n"
        "    $_SERVER[$name] ??= $value;\n"
        "  }\n"
        "})();"
    )
    # safe_substitute: the PHP's own $variables are not placeholders (render.php leaves them too).
    return Template(PREPEND_TEMPLATE.read_text()).safe_substitute(
        OPEN_BASEDIR_PHP=php_string(allowed), ENVIRONMENT_PHP=environment_php
    )


def _write_env(spec: SiteSpec, ids: tuple[int, int] | None) -> Path:
    target = env_file(spec.key)
    # Readable by the site's own group only (its PHP and nginx's user, which never reads it).
    content = render_env(site_environment(spec), open_basedir(spec.key))
    server.write_atomically(target, content, 0o440 if ids else 0o600, group=ids[1] if ids else None)
    return target


def render(spec: SiteSpec, ids: tuple[int, int] | None) -> str:
    site_dir = files.site_dir(spec.key)
    name = system_user.user_name(spec.key)
    return Template(POOL_TEMPLATE.read_text()).substitute(
        POOL_NAME=spec.key,
        POOL_USER=f"user = {name}\ngroup = {name}" if ids else "",
        CLEAR_ENV="yes",
        LISTEN=socket_path(spec.key),
        LISTEN_OWNER=f"listen.owner = {name}\nlisten.group = {server.WEB_USER}" if ids else "",
        MAX_CHILDREN=spec.max_php_workers,
        SITE_DIR=site_dir,
        PREPEND_FILE=env_file(spec.key),
    )


def ensure_pool(spec: SiteSpec) -> str:
    ids = system_user.ids(spec.key)
    with server.config_lock():
        _write_env(spec, ids)
    changed = server.apply_config(
        pool_file(spec.key), render(spec, ids), daemon=server.PHP_FPM_DAEMON, what="The PHP pool"
    )
    if not changed:
        return f"pool {spec.key} unchanged"
    return f"pool {spec.key}: ondemand, at most {spec.max_php_workers} PHP workers"


def pool_present(key: str) -> bool:
    """The pool and its prepended file are there, as this version renders them: a pool made before
    open_basedir moved into the prepended file sets it itself (and costs 40% of the site's speed), so
    it counts as missing and the reconciler's repair renders it anew."""
    if not (pool_file(key).exists() and env_file(key).exists()):
        return False
    return "php_admin_value[open_basedir]" not in pool_file(key).read_text()


def remove_pool(key: str) -> None:
    server.remove_config(pool_file(key), daemon=server.PHP_FPM_DAEMON)
    env_file(key).unlink(missing_ok=True)
