"""The local runtime's two daemons: one nginx and one php-fpm master for all sites on this host.

`manage.py site_runtime nginx|php-fpm` renders their main configs under SITES_RUNTIME_DIR and runs
them in the foreground (the Procfile and the test fixtures do this), with an environment that holds
none of the platform's settings. Sites add files to sites/ and pools/ and ask for a graceful reload.

A file is only ever put where a daemon reads it after the daemon's own test passed on a staged copy
of the whole configuration, and every write, test and swap happens under one lock shared by every
process of the platform (web, workers, CLI): a reload that another process triggers can never load
a file that was not tested, so one bad file never takes the other sites down.
"""

import fcntl
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from string import Template

from django.conf import settings

from sites.runtimes.local import processes

PHP_FPM = "php-fpm8.2"
NGINX = "nginx"
WEB_USER = "www-data"  # nginx workers when we run as root; pools let this group read their socket


def runtime_dir() -> Path:
    return Path(settings.SITES_RUNTIME_DIR)


def nginx_conf() -> Path:
    return runtime_dir() / "nginx" / "nginx.conf"


def nginx_sites_dir() -> Path:
    return runtime_dir() / "nginx" / "sites"


def php_conf() -> Path:
    return runtime_dir() / "php-fpm" / "php-fpm.conf"


def php_pools_dir() -> Path:
    return runtime_dir() / "php-fpm" / "pools"


def sockets_dir() -> Path:
    return runtime_dir() / "sockets"


def logs_dir() -> Path:
    return runtime_dir() / "logs"


def running_as_root() -> bool:
    return os.geteuid() == 0


# The daemons' whole environment: nothing of the platform's (its secret key, database URLs, the keys
# that decrypt every site's secrets) may be inherited, whatever a configuration file asks to expand.
DAEMON_ENVIRONMENT = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


NO_SITE_PAGE = (
    '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>No site here</title></head>'
    '<body style="font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto"><h1>No site here</h1>'
    "<p>Nothing is published at this address. Check the address, or whether the site was deleted.</p>"
    "</body></html>"
)

NGINX_MAIN = Template("""# Rendered by sites/runtimes/local/server.py; do not edit.
${USER_LINE}
worker_processes 1;
pid ${RUNTIME}/nginx/nginx.pid;
error_log ${RUNTIME}/logs/nginx-error.log warn;
daemon off;
events { worker_connections 1024; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    sendfile on;
    keepalive_timeout 30;
    server_tokens off;
    client_body_temp_path ${RUNTIME}/nginx/tmp/body;
    fastcgi_temp_path ${RUNTIME}/nginx/tmp/fastcgi;
    proxy_temp_path ${RUNTIME}/nginx/tmp/proxy;
    uwsgi_temp_path ${RUNTIME}/nginx/tmp/uwsgi;
    scgi_temp_path ${RUNTIME}/nginx/tmp/scgi;
    log_format aipress_json escape=json '{"time":"$time_iso8601","host":"$host","method":"$request_method",'
        '"path":"$request_uri","status":$status,"bytes":$body_bytes_sent,"duration":$request_time,'
        '"upstream_duration":"$upstream_response_time","remote":"$remote_addr","agent":"$http_user_agent"}';
    access_log ${RUNTIME}/logs/nginx-access.log aipress_json;
${PAGE_CACHE_RULES}
    # Unknown hosts get a small 404 page rather than some site (and not a file to download).
    server {
        listen ${PORT} default_server;
        server_name _;
        default_type text/html;
        return 404 '${NO_SITE_PAGE}';
    }
    include ${SITES_INCLUDE}/*.conf;
}
""")

# The full-page cache's rules (docs/page-cache.md), one set for every site's server block: a page is
# served from the cache, and kept in it, only when every one of these is empty.
PAGE_CACHE_RULES = r"""    # The full-page cache (docs/page-cache.md): a site's server block passes these to
    # fastcgi_cache_bypass and fastcgi_no_cache; any that is not empty keeps the request off the cache.
    map $request_method $aipress_cache_skip_method { GET ""; HEAD ""; default "method"; }
    # Pages made for one visitor: signed in, a password-protected post opened, a comment author (whose
    # comment awaiting moderation shows), a cart.
    map $http_cookie $aipress_cache_skip_cookie {
        default "";
        "~*(?:wordpress_logged_in_|wordpress_sec_|wp-postpass_|comment_author_|wordpress_no_cache)" "cookie";
        "~*(?:wp_woocommerce_session_|woocommerce_items_in_cart|woocommerce_cart_hash)" "cookie";
    }
    # The admin, the REST API (reads too: some answer per visitor), a shop's cart, checkout and account.
    map $request_uri $aipress_cache_skip_path {
        default "";
        "~*^/(?:wp-admin|wp-json|cart|checkout|my-account|wc-api)(?:[/?]|$)" "path";
    }
    # Previews, the customizer, cart actions, REST by query, nonces (one person's actions).
    map $args $aipress_cache_skip_args {
        default "";
        "~*(?:^|&)(?:preview|preview_id|preview_nonce|customize_changeset_uuid|customize_theme)=" "args";
        "~*(?:^|&)(?:add-to-cart|remove_item|wc-ajax|rest_route|_wpnonce|doing_wp_cron)=" "args";
    }
    # WordPress's front controller only: never wp-login.php, xmlrpc.php, wp-cron.php or a plugin's script.
    map $uri $aipress_cache_skip_script { /index.php ""; default "script"; }
    # What X-Cache says: HIT (from the cache), MISS (made now, and kept if it may be), BYPASS (never kept).
    map $upstream_cache_status $aipress_cache_status {
        HIT HIT; STALE HIT; UPDATING HIT; REVALIDATED HIT;
        MISS MISS; EXPIRED MISS;
        default BYPASS;
    }
"""

PHP_MAIN = Template("""; Rendered by sites/runtimes/local/server.py; do not edit.
[global]
pid = ${RUNTIME}/php-fpm/php-fpm.pid
error_log = ${RUNTIME}/logs/php-fpm.log
daemonize = no
; On reload, workers finish the request in hand (up to this long) instead of being cut off: one
; site's change must not interrupt the others.
process_control_timeout = 30s
; php-fpm will not start without a pool: this one never starts a process (ondemand, no traffic).
[aipress-idle]
${USER_LINE}
listen = ${RUNTIME}/sockets/idle.sock
pm = ondemand
pm.max_children = 1
include = ${POOLS_INCLUDE}/*.conf
""")


def site_logs_dir() -> Path:
    """Per-site nginx logs: the platform's, written by nginx's master (root), so outside site folders."""
    return logs_dir() / "sites"


def php_env_dir() -> Path:
    """Each site's environment, as the PHP file its pool prepends (pool.py)."""
    return runtime_dir() / "php-fpm" / "env"


def page_cache_dir() -> Path:
    """Each site's full-page cache, in a folder of its own (nginx's workers write it; no site reads it)."""
    return runtime_dir() / "nginx" / "cache"


def page_cache_trash_dir() -> Path:
    """Where an emptied cache's files go on their way out (same filesystem: a rename, then a delete)."""
    return runtime_dir() / "nginx" / "cache-trash"


def _render_nginx_main(sites_include: Path) -> str:
    return NGINX_MAIN.safe_substitute(
        RUNTIME=runtime_dir(),
        PORT=settings.SITES_PORT,
        USER_LINE=f"user {WEB_USER};" if running_as_root() else "",
        SITES_INCLUDE=sites_include,
        NO_SITE_PAGE=NO_SITE_PAGE,
        PAGE_CACHE_RULES=PAGE_CACHE_RULES,
    )


def _render_php_main(pools_include: Path) -> str:
    return PHP_MAIN.safe_substitute(
        RUNTIME=runtime_dir(),
        USER_LINE=f"user = {WEB_USER}\ngroup = {WEB_USER}" if running_as_root() else "",
        POOLS_INCLUDE=pools_include,
    )


def ensure_runtime_dirs() -> None:
    root = runtime_dir()
    for folder in (nginx_sites_dir(), php_pools_dir(), sockets_dir(), logs_dir(), root / "nginx" / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    for private in (site_logs_dir(), php_env_dir(), page_cache_dir(), page_cache_trash_dir()):
        private.mkdir(parents=True, exist_ok=True)
        # Logs and emptied caches: root's alone. Environments: each file is readable by its own site's
        # group only, and the folder cannot be listed, so a site cannot even learn which other sites
        # exist. Caches: nginx makes each site's folder (its workers' own, 0700) inside this one.
        private.chmod(0o711 if private in (php_env_dir(), page_cache_dir()) else 0o700)


def render_main_configs() -> None:
    ensure_runtime_dirs()
    nginx_conf().write_text(_render_nginx_main(nginx_sites_dir()))
    php_conf().write_text(_render_php_main(php_pools_dir()))
    if running_as_root():
        # Sockets are made by the php-fpm master (root) and handed to each pool's owner.
        os.chmod(sockets_dir(), 0o755)


def nginx_command() -> list[str]:
    return [NGINX, "-c", str(nginx_conf()), "-e", str(logs_dir() / "nginx-error.log")]


PHP_SETTINGS = Path(settings.BASE_DIR) / "wordpress-runtime" / "php.ini"


def php_settings() -> dict[str, str]:
    """The sites' PHP settings on top of Debian's php.ini (wordpress-runtime/php.ini, which the image
    installs as it is), with the opcache sized from SITES_PHP_OPCACHE_MB: many sites share it here."""
    found = {}
    for line in PHP_SETTINGS.read_text().splitlines():
        name, equals, value = line.partition("=")
        if equals and not line.lstrip().startswith(";"):
            found[name.strip()] = value.strip()
    megabytes = int(settings.SITES_PHP_OPCACHE_MB)
    found["opcache.memory_consumption"] = str(megabytes)
    # A site's WordPress interns some 2 MB of strings for 15 MB of code; the buffer's index is in memory
    # from the start (64 MB: 8 MB more in the master), so it gets a sixteenth (docs/site-performance.md).
    found["opcache.interned_strings_buffer"] = str(max(8, megabytes // 16))
    return found


def php_fpm_command() -> list[str]:
    """php-fpm's master, in the sandbox's mount namespace (its pools inherit it; see sandbox.py)."""
    from sites.runtimes.local import sandbox

    command = [PHP_FPM, "--nodaemonize", "--fpm-config", str(php_conf())]
    # Settings of the master itself (the opcache is one shared memory for every pool), given as -d:
    # Debian's own php.ini and conf.d stay untouched.
    command += [argument for name, value in php_settings().items() for argument in ("-d", f"{name}={value}")]
    if running_as_root():
        command.append("--allow-to-run-as-root")
    return sandbox.isolated(command)


def start_daemons() -> list[subprocess.Popen]:
    """Start nginx and php-fpm in the background with their minimal environment (tests, benchmarks)."""
    from sites.runtimes.local import sandbox, system_user

    render_main_configs()
    sandbox.firewall_install(system_user.existing_site_uids())
    return [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=DAEMON_ENVIRONMENT)
        for command in (nginx_command(), php_fpm_command())
    ]


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _daemon_test(command: list[str]) -> str | None:
    result = subprocess.run(command, capture_output=True, text=True, check=False, env=DAEMON_ENVIRONMENT)
    return None if result.returncode == 0 else (result.stderr.strip() or result.stdout.strip())


def nginx_test(main_config: Path | None = None) -> str | None:
    """None when the whole configuration is valid, else nginx's complaint."""
    config = main_config or nginx_conf()
    return _daemon_test([NGINX, "-c", str(config), "-e", str(logs_dir() / "nginx-error.log"), "-t", "-q"])


def nginx_reload(timeout: float = 10.0) -> None:
    """Reload gracefully and wait until only new workers remain (the old ones stop accepting
    connections a moment after the new ones start, so waiting for the new ones is not enough)."""
    pid = _pid(runtime_dir() / "nginx" / "nginx.pid")
    if pid is None:
        return
    before = processes.children(pid)
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = processes.children(pid)
        if now - before and not now & before:
            return
        time.sleep(0.02)


def php_fpm_test(main_config: Path | None = None) -> str | None:
    command = [PHP_FPM, "--fpm-config", str(main_config or php_conf()), "--test"]
    return _daemon_test([*command, "--allow-to-run-as-root"] if running_as_root() else command)


def php_fpm_reload() -> None:
    # USR2 reloads the configuration gracefully: workers finish their current request first.
    pid = _pid(runtime_dir() / "php-fpm" / "php-fpm.pid")
    if pid is not None:
        os.kill(pid, signal.SIGUSR2)


def daemons_running() -> dict[str, bool]:
    def alive(pid: int | None) -> bool:
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True

    return {
        "nginx": alive(_pid(runtime_dir() / "nginx" / "nginx.pid")),
        "php-fpm": alive(_pid(runtime_dir() / "php-fpm" / "php-fpm.pid")),
    }


@contextmanager
def config_lock() -> Iterator[None]:
    """One writer of daemon configuration at a time, across every process of this runtime."""
    ensure_runtime_dirs()
    with open(runtime_dir() / "config.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Daemon:
    """What apply_config needs to know of nginx or php-fpm."""

    def __init__(
        self,
        *,
        live_dir: Callable[[], Path],
        render_main: Callable[[Path], str],
        test: Callable[[Path], str | None],
        reload: Callable[[], None],
        main_config: Callable[[], Path] | None = None,
    ) -> None:
        self.live_dir, self.render_main, self.test, self.reload = live_dir, render_main, test, reload
        # The live main config, when this code keeps it current as well: a server block may use what
        # a newer main config defines (the page cache's rules), and the daemon may have been started
        # before that, by an older version of the platform.
        self.main_config = main_config

    def main_stale(self) -> bool:
        if self.main_config is None:
            return False
        live = self.main_config()
        return not live.exists() or live.read_text() != self.render_main(self.live_dir())

    def sync_main(self) -> None:
        if self.main_config is not None and self.main_stale():
            write_atomically(self.main_config(), self.render_main(self.live_dir()), 0o644)

    def staged_test(self, target: Path, rendered: str | None) -> str | None:
        """Test the whole configuration as it would be with `target` holding `rendered` (None: removed),
        on a staged copy: the live folder is never touched."""
        staging = runtime_dir() / "staging" / self.live_dir().name
        if staging.exists():
            for old in staging.iterdir():
                old.unlink()
        staging.mkdir(parents=True, exist_ok=True)
        for live in self.live_dir().glob("*.conf"):
            if live.name != target.name:
                (staging / live.name).write_text(live.read_text())
        if rendered is not None:
            (staging / target.name).write_text(rendered)
        main = staging.parent / f"{self.live_dir().name}-main.conf"
        main.write_text(self.render_main(staging))
        return self.test(main)


NGINX_DAEMON = Daemon(
    live_dir=nginx_sites_dir,
    render_main=_render_nginx_main,
    test=nginx_test,
    reload=nginx_reload,
    main_config=nginx_conf,
)
PHP_FPM_DAEMON = Daemon(live_dir=php_pools_dir, render_main=_render_php_main, test=php_fpm_test, reload=php_fpm_reload)


def write_atomically(target: Path, content: str, mode: int, *, group: int | None = None) -> None:
    """Readers see the old file or the new one, never half of it. The new file is made under a
    random name, private (0600), and gets its owner and mode before anything is written to it: no
    one else can open it while it holds the content."""
    descriptor, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        if group is not None:
            os.fchown(descriptor, 0, group)
        os.fchmod(descriptor, mode)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(content)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def apply_config(target: Path, rendered: str, *, daemon: Daemon, what: str, mode: int = 0o644) -> bool:
    """Put `rendered` in `target` if the daemon accepts it, then reload the daemon gracefully.

    Under the config lock: test a staged copy of the whole configuration with the new file, and only
    on success swap it in atomically and reload. On refusal StepError says why and nothing the daemon
    reads has changed. Returns False when the file was already up to date. It reloads even then: a
    worker killed between swapping the file and reloading leaves a file the daemon never loaded.
    """
    from sites.spec import StepError

    with config_lock():
        previous = target.read_text() if target.exists() else None
        if previous == rendered and not daemon.main_stale():
            daemon.reload()
            return False
        problem = daemon.staged_test(target, rendered)
        if problem:
            raise StepError(f"{what} was refused: {problem}")
        if previous != rendered:
            write_atomically(target, rendered, mode)
        daemon.sync_main()
        daemon.reload()
    return previous != rendered


def remove_config(target: Path, *, daemon: Daemon) -> None:
    with config_lock():
        if target.exists():
            target.unlink()
            daemon.reload()
