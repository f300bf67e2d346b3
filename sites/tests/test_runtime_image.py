"""The Cloud Run image (wordpress-runtime/), built as far as this machine can without Docker: its PHP
lints, its rendered configs pass nginx's and php-fpm's own tests, and laid out on Debian's WordPress
it installs WordPress against the real MariaDB and serves the site on $PORT, as the container would."""

import http.client
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from django.conf import settings

from kernel.testing import wait_until
from sites.runtimes.local import database, files

RUNTIME_DIR = Path(settings.BASE_DIR) / "wordpress-runtime"
DOCS = Path(settings.BASE_DIR) / "docs" / "wordpress-runtime.md"
SALT_NAMES = (
    "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
    "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT",
)  # fmt: skip
RESULT_PREFIX = "AIPRESS-RESULT "
TIMEOUT = 120
WEB_USER = "www-data"


def needs(command: str, package: str) -> str:
    """The path of a command the image runs too; the test is skipped, naming the package, without it."""
    path = shutil.which(command)
    if path is None:
        pytest.skip(f"needs Debian's {package} (no {command} on this machine)")
    return path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def render_only(out: Path, **env: str) -> None:
    subprocess.run(
        [str(RUNTIME_DIR / "entrypoint.sh")],
        env={"PATH": os.environ["PATH"], "AIPRESS_RENDER_ONLY": "1", "AIPRESS_RENDER_DIR": str(out), **env},
        check=True,
        timeout=TIMEOUT,
    )


# What needs no database: the image's files and the configs it renders.


def test_every_php_file_of_the_image_is_valid_php():
    needs("php", "php8.2-cli")
    files = sorted(RUNTIME_DIR.rglob("*.php"))
    assert {"wp-config.php", "install.php", "health.php", "render.php", "aipress-mail.php"} <= {f.name for f in files}
    for php_file in files:
        result = subprocess.run(["php", "-l", str(php_file)], capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def test_shell_scripts_are_posix_sh_that_stop_at_the_first_error():
    dash = needs("dash", "dash")
    for script in (RUNTIME_DIR / "entrypoint.sh", RUNTIME_DIR / "layout.sh"):
        text = script.read_text()
        assert text.startswith("#!/bin/sh\n")
        assert "\nset -eu\n" in text
        assert os.access(script, os.X_OK)
        # dash is the POSIX shell Debian's image runs them with: it refuses bash's extensions.
        subprocess.run([dash, "-n", str(script)], check=True)


def test_rendered_configs_pass_nginx_and_php_fpm_own_tests(tmp_path):
    nginx = needs("nginx", "nginx")
    php_fpm = needs("php-fpm8.2", "php8.2-fpm")
    out = tmp_path / "rendered"
    render_only(out, PORT="8123", MAX_PHP_WORKERS="6", SITE_DIR="/srv/site", UPLOADS_DIR="/mnt/uploads")
    for rendered in out.glob("*.conf"):
        settings_only = [line for line in rendered.read_text().splitlines() if not line.lstrip().startswith(("#", ";"))]
        assert not [line for line in settings_only if "${" in line], f"{rendered.name} kept a placeholder"
    site = (out / "nginx-site.conf").read_text()
    assert "listen 8123;" in site
    assert "location = /_aipress/health" in site
    pool = (out / "php-fpm-pool.conf").read_text()
    assert "pm.max_children = 6" in pool
    # PHP reaches the code and the bucket, nothing else: open_basedir, set as each request starts by
    # the file the pool prepends (docs/site-performance.md).
    assert f"php_admin_value[auto_prepend_file] = {out / 'prepend.php'}\n" in pool
    prepend = (out / "prepend.php").read_text()
    assert "})('/srv/site/:/mnt/uploads/');" in prepend and "${" not in prepend
    linted = subprocess.run(["php", "-l", str(out / "prepend.php")], capture_output=True, text=True, check=False)
    assert linted.returncode == 0, linted.stdout
    tested = subprocess.run(
        [nginx, "-t", "-e", "stderr", "-c", str(out / "nginx.conf")], capture_output=True, text=True, check=False
    )
    assert tested.returncode == 0, tested.stderr
    tested = subprocess.run(
        [php_fpm, "-t", "-y", str(out / "php-fpm.conf")], capture_output=True, text=True, check=False
    )
    assert tested.returncode == 0, tested.stderr


def test_secrets_given_as_files_reach_php_open_basedir(tmp_path):
    needs("php", "php8.2-cli")
    out = tmp_path / "rendered"
    render_only(
        out,
        SITE_DIR="/srv/site",
        DB_PASSWORD_FILE="/secrets/db/password",
        AUTH_KEY_FILE="/secrets/salts/auth-key",
        WP_ADMIN_PASSWORD_FILE="/secrets/admin/password",
    )
    allowed = re.search(r"\}\)\('(.*)'\);", (out / "prepend.php").read_text())
    assert allowed is not None
    # The admin password is the installer's alone: the site's PHP may not read its folder.
    assert allowed.group(1).split(":") == ["/srv/site/", "/mnt/uploads/", "/secrets/db/", "/secrets/salts/"]


def test_dockerfile_pins_a_wordpress_release_and_checks_its_checksum():
    dockerfile = (RUNTIME_DIR / "Dockerfile").read_text()
    version = re.search(r"^ARG WORDPRESS_VERSION=(\S+)$", dockerfile, re.MULTILINE)
    checksum = re.search(r"^ARG WORDPRESS_SHA1=(\S+)$", dockerfile, re.MULTILINE)
    assert version is not None and checksum is not None
    assert re.fullmatch(r"\d+\.\d+(\.\d+)?", version.group(1))
    assert re.fullmatch(r"[0-9a-f]{40}", checksum.group(1))
    assert "sha1sum -c -" in dockerfile
    # The page that says which release each runtime serves names this one.
    assert f"WordPress {version.group(1)}" in DOCS.read_text()


def config_constants(tmp_path: Path, env: dict[str, str]) -> dict:
    """The constants wp-config.php defines for an environment, read without loading WordPress."""
    probe = tmp_path / "probe.php"
    probe.write_text(
        "<?php define('AIPRESS_CONFIG_ONLY', true);\n"
        f"require '{RUNTIME_DIR / 'wp-config.php'}';\n"
        "echo json_encode(['DB_HOST' => DB_HOST, 'DB_PASSWORD' => DB_PASSWORD, 'AUTH_KEY' => AUTH_KEY,\n"
        "  'DISABLE_WP_CRON' => DISABLE_WP_CRON, 'DISALLOW_FILE_MODS' => DISALLOW_FILE_MODS]);\n"
    )
    result = subprocess.run(
        ["php", str(probe)], env={"PATH": os.environ["PATH"], **env}, capture_output=True, text=True, check=False
    )
    try:
        return json.loads(result.stdout)
    except json.JSONDecodeError:
        return {"error": result.stdout}


def site_env(**overrides: str) -> dict[str, str]:
    env = {
        "DB_NAME": "wp", "DB_USER": "wp", "DB_PASSWORD": "db-pass", "WP_HOME": "https://blog.example",
        **{name: f"{name.lower()}-value" for name in SALT_NAMES},
    }  # fmt: skip
    env.update(overrides)
    return {name: value for name, value in env.items() if value != ""}


def test_wp_config_reads_secrets_from_files_and_the_cloud_sql_socket(tmp_path):
    needs("php", "php8.2-cli")
    password_file = tmp_path / "db-password"
    password_file.write_text("from-a-file\n")
    salt_file = tmp_path / "auth-key"
    salt_file.write_text("salt-from-a-file")
    constants = config_constants(
        tmp_path,
        site_env(
            DB_PASSWORD="",
            DB_PASSWORD_FILE=str(password_file),
            AUTH_KEY="",
            AUTH_KEY_FILE=str(salt_file),
            DB_SOCKET="/cloudsql/proj:europe-west1:sites",
            DB_HOST="10.0.0.9",
        ),
    )
    assert constants["DB_PASSWORD"] == "from-a-file"  # the file's final newline is not the secret's
    assert constants["AUTH_KEY"] == "salt-from-a-file"
    assert constants["DB_HOST"] == "localhost:/cloudsql/proj:europe-west1:sites"
    # A value in the environment itself wins over a file.
    both = config_constants(tmp_path, site_env(DB_PASSWORD="direct", DB_PASSWORD_FILE=str(password_file)))
    assert both["DB_PASSWORD"] == "direct"
    assert both["DB_HOST"] == "127.0.0.1"
    unreadable = config_constants(tmp_path, site_env(DB_PASSWORD="", DB_PASSWORD_FILE=str(tmp_path / "gone")))
    assert "DB_PASSWORD_FILE names a file that cannot be read" in unreadable["error"]


def test_wp_config_switches_cron_and_file_mods_off_only_where_told(tmp_path):
    needs("php", "php8.2-cli")
    cloud = config_constants(tmp_path, site_env(DISABLE_WP_CRON="true", AIPRESS_READ_ONLY_CODE="1"))
    assert cloud["DISABLE_WP_CRON"] is True
    assert cloud["DISALLOW_FILE_MODS"] is True
    # The local runtime sets neither: its sites keep WordPress's cron and may add plugins.
    local = config_constants(tmp_path, site_env())
    assert local["DISABLE_WP_CRON"] is False
    assert local["DISALLOW_FILE_MODS"] is False


# With the real MariaDB: a throwaway database and user per test, dropped afterwards.


@dataclass
class Database:
    name: str
    password: str
    socket: str  # the admin account's unix socket, when MariaDB has one: Cloud SQL's way in

    def env(self, *, over_tcp: bool = False) -> dict[str, str]:
        where = {"DB_SOCKET": self.socket} if self.socket and not over_tcp else {"DB_HOST": database.sites_db_host()}
        return {"DB_NAME": self.name, "DB_USER": self.name, "DB_PASSWORD": self.password, **where}

    def query(self, sql: str, *args: object) -> list[tuple]:
        with database.admin_connection() as conn, conn.cursor() as cursor:
            cursor.execute(f"USE `{self.name}`")
            cursor.execute(sql, args)
            return list(cursor.fetchall())


@pytest.fixture
def site_database() -> Iterator[Database]:
    name = f"aipress_img_{uuid.uuid4().hex[:10]}"
    password = secrets.token_urlsafe(24)
    with database.admin_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
        for host in database.SITE_USER_HOSTS:
            cursor.execute("CREATE USER %s@%s IDENTIFIED BY %s", (name, host, password))
            cursor.execute(f"GRANT ALL PRIVILEGES ON `{name}`.* TO %s@%s", (name, host))
    socket_path = parse_qs(urlsplit(settings.SITES_MARIADB_URL).query).get("unix_socket", [""])[0]
    yield Database(name, password, socket_path)
    with database.admin_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        for host in database.SITE_USER_HOSTS:
            cursor.execute("DROP USER IF EXISTS %s@%s", (name, host))


@dataclass
class Image:
    """Debian's WordPress laid out by layout.sh, as the Dockerfile lays out the pinned release."""

    root: Path

    @property
    def site_dir(self) -> Path:
        return self.root / "site"

    @property
    def docroot(self) -> Path:
        return self.site_dir / "htdocs"

    @property
    def uploads(self) -> Path:
        return self.root / "uploads"

    def secret(self, name: str, value: str) -> str:
        path = self.root / "secrets" / name
        path.parent.mkdir(exist_ok=True)
        path.write_text(value + "\n")
        path.chmod(0o644)
        return str(path)


@pytest.fixture
def image() -> Iterator[Image]:
    needs("php", "php8.2-cli")
    core = Path(settings.WORDPRESS_CORE_DIR)
    if not (core / "wp-settings.php").exists():
        pytest.skip("needs Debian's wordpress package")
    # 0755, unlike pytest's own folders: nginx's and PHP's workers (www-data) must reach the site.
    root = Path(tempfile.mkdtemp(prefix="aipress-image-"))
    root.chmod(0o755)
    made = Image(root)
    subprocess.run(
        [str(RUNTIME_DIR / "layout.sh"), str(core), str(made.site_dir), str(made.uploads)], check=True, timeout=TIMEOUT
    )
    made.uploads.mkdir()
    shutil.chown(made.uploads, WEB_USER, WEB_USER)
    yield made
    shutil.rmtree(root, ignore_errors=True)


def contract_env(db: Database, image: Image, *, over_tcp: bool = False, **overrides: str) -> dict[str, str]:
    """The environment the platform gives the Cloud Run service (docs/wordpress-runtime.md)."""
    env = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C.UTF-8",
        "WP_HOME": "http://blog.example",
        "WP_TITLE": "Crumbs",
        "WP_ADMIN_EMAIL": "owner@acme.test",
        "WP_ADMIN_PASSWORD_FILE": image.secret("admin-password", "admin-pass-" + "p" * 20),
        "MAX_PHP_WORKERS": "2",
        "DISABLE_WP_CRON": "true",
        "AIPRESS_READ_ONLY_CODE": "1",
        "SITE_DIR": str(image.site_dir),
        "UPLOADS_DIR": str(image.uploads),
        **db.env(over_tcp=over_tcp),
        **{name: secrets.token_urlsafe(32) for name in SALT_NAMES},
    }
    env.update(overrides)
    return {name: value for name, value in env.items() if value != ""}


def run_install(image: Image, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["php", str(RUNTIME_DIR / "install.php"), str(image.docroot)],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def install_result(process: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in process.stdout.splitlines() if line.strip()]
    assert lines and lines[-1].startswith(RESULT_PREFIX), process.stdout[-2000:] + process.stderr[-2000:]
    return lines[-1].removeprefix(RESULT_PREFIX)


def health_cli(image: Image, env: dict[str, str]) -> tuple[int, dict]:
    result = subprocess.run(
        ["php", str(image.docroot / "_aipress" / "health.php")],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return result.returncode, json.loads(result.stdout)


def php_in_site(image: Image, env: dict[str, str], code: str) -> str:
    """PHP run with the site's WordPress loaded (what a request to the site would see)."""
    result = subprocess.run(
        ["php", "-r", f"require '{image.docroot}/wp-load.php'; {code}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else result.stderr


def test_first_start_installs_wordpress_and_later_starts_keep_the_title(site_database, image):
    env = contract_env(site_database, image)
    code, report = health_cli(image, env)
    assert (code, report["database"], report["installed"]) == (2, "answers", False)

    assert install_result(run_install(image, env)).startswith("installed")
    assert site_database.query("SELECT option_value FROM wp_options WHERE option_name = 'blogname'") == [("Crumbs",)]
    # The admin signs in with the e-mail address and the password from the file.
    signed_in = php_in_site(
        image, env, "$u = wp_authenticate('owner@acme.test', 'admin-pass-' . str_repeat('p', 20)); echo get_class($u);"
    )
    assert signed_in == "WP_User"
    code, report = health_cli(image, env)
    assert (code, report["status"], report["installed"]) == (0, "ok", True)

    site_database.query("INSERT INTO wp_posts (post_title, post_content, post_excerpt, to_ping, pinged, "
                        "post_content_filtered) VALUES ('Kept', '', '', '', '', '')")  # fmt: skip
    # A later start: the platform dropped the admin password and changed the title.
    later = contract_env(site_database, image, WP_ADMIN_PASSWORD_FILE="", WP_TITLE="Crumbs & Co")
    assert install_result(run_install(image, later)) == "already-installed; title “Crumbs & Co”"
    assert site_database.query("SELECT option_value FROM wp_options WHERE option_name = 'blogname'") == [
        ("Crumbs &amp; Co",)  # WordPress keeps it escaped, as its own settings page does
    ]
    assert site_database.query("SELECT COUNT(*) FROM wp_posts WHERE post_title = 'Kept'") == [(1,)]
    assert site_database.query("SELECT COUNT(*) FROM wp_users") == [(1,)]


def test_first_start_without_an_admin_password_fails_clearly(site_database, image):
    process = run_install(image, contract_env(site_database, image, WP_ADMIN_PASSWORD_FILE=""))
    assert process.returncode != 0
    assert RESULT_PREFIX not in process.stdout
    assert "WP_ADMIN_PASSWORD" in process.stderr
    assert site_database.query("SHOW TABLES LIKE 'wp_options'") == []


def test_instances_starting_together_install_once(site_database, image):
    env = contract_env(site_database, image)
    starts = [
        subprocess.Popen(
            ["php", str(RUNTIME_DIR / "install.php"), str(image.docroot)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = []
    for start in starts:
        stdout, stderr = start.communicate(timeout=TIMEOUT)
        results.append(install_result(subprocess.CompletedProcess(start.args, start.returncode, stdout, stderr)))
    assert sorted(result.split(";")[0] for result in results) == ["already-installed", "installed"]
    assert site_database.query("SELECT COUNT(*) FROM wp_users") == [(1,)]


def test_an_install_cut_short_starts_over_and_a_brought_in_wordpress_is_kept(site_database, image):
    env = contract_env(site_database, image)
    assert install_result(run_install(image, env)).startswith("installed")
    site_database.query("UPDATE wp_options SET option_value = 'Imported' WHERE option_name = 'blogdescription'")
    # A WordPress the platform did not install (a migrated database): kept as it is.
    site_database.query("DELETE FROM wp_options WHERE option_name = 'aipress_installed'")
    assert install_result(run_install(image, env)).startswith("already-installed")
    assert site_database.query("SELECT option_value FROM wp_options WHERE option_name = 'blogdescription'") == [
        ("Imported",)
    ]
    # A container stopped mid-install: the install's marker, tables made, no options yet (WordPress
    # itself refuses to load on such a database: "One or more database tables are unavailable").
    site_database.query("CREATE TABLE wp_aipress_install (started_at DATETIME NOT NULL)")
    site_database.query("DROP TABLE wp_options")
    assert install_result(run_install(image, env)).startswith("installed (an earlier attempt was cut short)")
    assert site_database.query("SELECT option_value FROM wp_options WHERE option_name = 'blogdescription'") != [
        ("Imported",)
    ]
    assert site_database.query("SHOW TABLES LIKE 'wp_aipress_install'") == []


def test_health_reports_a_database_that_does_not_answer(site_database, image):
    code, report = health_cli(image, contract_env(site_database, image, DB_PASSWORD="not-the-password"))
    assert (code, report["status"], report["database"]) == (1, "unavailable", "does not answer")


# The whole container: the entrypoint as Cloud Run starts it, with nginx and php-fpm.


def fetch(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("GET", path, headers={"Host": f"127.0.0.1:{port}", **(headers or {})})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def healthy(port: int) -> bytes | None:
    status, body = fetch(port, "/_aipress/health")
    return body if status == 200 else None


PROBE = """<?php
// What the site's PHP may do in the container.
define('AIPRESS_CONFIG_ONLY', true);
require __DIR__ . '/wp-config.php';
echo json_encode([
    'https' => $_SERVER['HTTPS'] ?? '',
    'user' => posix_getpwuid(posix_geteuid())['name'],
    'admin_password' => getenv('WP_ADMIN_PASSWORD_FILE'),
    'template_values' => getenv('FASTCGI_PASS'),
    'code_writable' => is_writable(__DIR__ . '/wp-includes') || is_writable(__FILE__),
    'uploads_writable' => is_writable(WP_CONTENT_DIR . '/uploads'),
    'file_mods' => !DISALLOW_FILE_MODS,
    'cron_on_page_views' => !DISABLE_WP_CRON,
]);
"""


@pytest.fixture
def container(site_database: Database, image: Image) -> Iterator[Callable[..., tuple[subprocess.Popen, int]]]:
    """Start the entrypoint as the image does (as root; nginx's and PHP's workers as www-data)."""
    needs("nginx", "nginx")
    needs("php-fpm8.2", "php8.2-fpm")
    needs("setpriv", "util-linux")
    if os.geteuid() != 0:
        pytest.skip("the container starts as root, to hand its workers to www-data")
    started: list[subprocess.Popen] = []

    def start(**overrides: str) -> tuple[subprocess.Popen, int]:
        port = _free_port()
        run_dir = image.root / f"run-{port}"
        # The workers run as www-data, which cannot reach this machine's MariaDB socket: TCP.
        env = contract_env(
            site_database,
            image,
            over_tcp=True,
            PORT=str(port),
            AIPRESS_RUN_DIR=str(run_dir),
            WP_HOME=f"http://127.0.0.1:{port}",
            **overrides,
        )
        process = subprocess.Popen(
            [str(RUNTIME_DIR / "entrypoint.sh")],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(process)
        return process, port

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=TIMEOUT)


def test_the_container_installs_and_serves_the_site_on_port(container, image):
    (image.docroot / "probe.php").write_text(PROBE)
    process, port = container(WP_TITLE="Crumbs on Cloud Run")
    health = wait_until(lambda: healthy(port), timeout=TIMEOUT, what="the health check to answer 200")
    assert json.loads(health) == {
        "status": "ok",
        "database": "answers",
        "installed": True,
        "wordpress": files.wordpress_version(),
    }
    status, body = fetch(port, "/")
    assert status == 200
    assert b"<title>Crumbs on Cloud Run" in body

    status, body = fetch(port, "/probe.php", {"X-Forwarded-Proto": "https"})
    assert status == 200, body
    assert json.loads(body) == {
        "https": "on",  # Cloud Run's front end ended TLS
        "user": "www-data",
        "admin_password": False,  # used by the install, then gone from the environment
        "template_values": False,  # what the entrypoint rendered the configs with stays there
        "code_writable": False,
        "uploads_writable": True,
        "file_mods": False,
        "cron_on_page_views": False,
    }
    assert json.loads(fetch(port, "/probe.php")[1])["https"] == ""

    # Cloud Run stops a container with SIGTERM: nginx and php-fpm end, and so does the container.
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=TIMEOUT)
    assert process.returncode == 0, output
    assert "AIPRESS-RESULT installed; title “Crumbs on Cloud Run”" in output
    with pytest.raises(OSError):
        fetch(port, "/_aipress/health")


def test_the_container_ends_when_php_fpm_ends(container, image):
    process, port = container()
    wait_until(lambda: healthy(port), timeout=TIMEOUT, what="the health check to answer 200")
    master = int((image.root / f"run-{port}" / "php-fpm.pid").read_text())
    os.kill(master, signal.SIGTERM)  # php-fpm's fast shutdown: it ends, its workers with it
    output, _ = process.communicate(timeout=TIMEOUT)
    # Not 0: Cloud Run replaces a container that ends on its own.
    assert process.returncode != 0
    assert "php-fpm ended; stopping the container" in output
