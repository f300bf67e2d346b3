"""The local runtime's two daemons: one nginx and one php-fpm master for all sites on this host.

`manage.py site_runtime nginx|php-fpm` renders their main configs under SITES_RUNTIME_DIR and runs
them in the foreground (the Procfile and the test fixtures do this). Sites add files to sites/ and
pools/ and ask for a graceful reload; `nginx -t` runs first, so one bad file never takes the others down.
"""

import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from string import Template

from django.conf import settings

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
    # Unknown hosts get a plain 404 rather than some site.
    server {
        listen ${PORT} default_server;
        server_name _;
        return 404 "No site here.\\n";
    }
    include ${RUNTIME}/nginx/sites/*.conf;
}
""")

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
include = ${RUNTIME}/php-fpm/pools/*.conf
""")


def render_main_configs() -> None:
    root = runtime_dir()
    for folder in (nginx_sites_dir(), php_pools_dir(), sockets_dir(), logs_dir(), root / "nginx" / "tmp"):
        folder.mkdir(parents=True, exist_ok=True)
    nginx_conf().write_text(
        NGINX_MAIN.safe_substitute(
            RUNTIME=root, PORT=settings.SITES_PORT, USER_LINE=f"user {WEB_USER};" if running_as_root() else ""
        )
    )
    php_conf().write_text(
        PHP_MAIN.safe_substitute(
            RUNTIME=root, USER_LINE=f"user = {WEB_USER}\ngroup = {WEB_USER}" if running_as_root() else ""
        )
    )
    if running_as_root():
        # Sockets are made by the php-fpm master (root) and handed to each pool's owner.
        os.chmod(sockets_dir(), 0o755)


def nginx_command() -> list[str]:
    return [NGINX, "-c", str(nginx_conf()), "-e", str(logs_dir() / "nginx-error.log")]


def php_fpm_command() -> list[str]:
    command = [PHP_FPM, "--nodaemonize", "--fpm-config", str(php_conf())]
    return [*command, "--allow-to-run-as-root"] if running_as_root() else command


def _pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def nginx_test() -> str | None:
    """None when the whole configuration is valid, else nginx's complaint."""
    result = subprocess.run([*nginx_command(), "-t", "-q"], capture_output=True, text=True, check=False)
    return None if result.returncode == 0 else (result.stderr.strip() or result.stdout.strip())


def _children(pid: int) -> set[int]:
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(stat.parent.name))
    return found


def nginx_reload(timeout: float = 10.0) -> None:
    """Reload gracefully and wait until only new workers remain (the old ones stop accepting
    connections a moment after the new ones start, so waiting for the new ones is not enough)."""
    pid = _pid(runtime_dir() / "nginx" / "nginx.pid")
    if pid is None:
        return
    before = _children(pid)
    os.kill(pid, signal.SIGHUP)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        now = _children(pid)
        if now - before and not now & before:
            return
        time.sleep(0.02)


def php_fpm_test() -> str | None:
    result = subprocess.run([*php_fpm_command(), "--test"], capture_output=True, text=True, check=False)
    return None if result.returncode == 0 else (result.stderr.strip() or result.stdout.strip())


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


def apply_config(
    target: Path,
    rendered: str,
    *,
    test: Callable[[], str | None],
    reload: Callable[[], None],
    what: str,
    mode: int = 0o644,
) -> bool:
    """Write `rendered` to `target`, test the daemon's whole configuration, reload on success.

    On failure the previous file is put back (or the new one removed) and StepError says why, so the
    running daemon and every other site keep their working configuration. Returns False when the
    file was already up to date. It reloads even then: a worker killed between writing the file and
    reloading leaves an up-to-date file that the daemon has never loaded.
    """
    from sites.runtimes.base import StepError

    previous = target.read_text() if target.exists() else None
    if previous == rendered:
        reload()
        return False
    target.write_text(rendered)
    target.chmod(mode)
    problem = test()
    if problem:
        if previous is None:
            target.unlink()
        else:
            target.write_text(previous)
        raise StepError(f"{what} was refused: {problem}")
    reload()
    return True
