"""The cloud image's entrypoint and the local runtime render the same files from the same inputs."""

import os
import subprocess
from pathlib import Path

from django.conf import settings

from sites.runtimes.local import files, webserver
from sites.spec import SALT_NAMES, SiteSpec

RUNTIME_DIR = Path(settings.BASE_DIR) / "wordpress-runtime"


def test_entrypoint_and_local_runtime_render_the_same_config(tmp_path, settings):
    spec = SiteSpec(
        tenant_id=1, tenant_slug="acme", site_id=9, slug="blog", title="B",
        hostname="blog--acme.sites.localhost", max_php_workers=3, admin_email="a@example.com",
    )  # fmt: skip
    settings.SITES_PORT = 8080
    local_block = webserver.render(spec)
    env = {
        **os.environ,
        "AIPRESS_RENDER_ONLY": "1",
        "AIPRESS_RENDER_DIR": str(tmp_path),
        "PORT": "8080",
        "SITE_DIR": str(files.site_dir(spec.key)),
    }
    subprocess.run([str(RUNTIME_DIR / "entrypoint.sh")], env=env, check=True)
    # The same wp-config.php, byte for byte: it reads everything from the environment.
    assert (tmp_path / "wp-config.php").read_bytes() == (RUNTIME_DIR / "wp-config.php").read_bytes()
    cloud_block = (tmp_path / "nginx-site.conf").read_text()
    # The local runtime's page cache (on the cloud, the CDN in front keeps the pages).
    for snippet in webserver._page_cache(spec).values():
        assert snippet in local_block
        local_block = local_block.replace(snippet, "")
    # Only what differs by design: the host name, where logs go, the PHP socket, links (one site per
    # container in the cloud; many sites and one nginx that can read them all here), and the FastCGI
    # parameters (the cloud's add HTTPS as Cloud Run's front end reports it).
    for local, cloud in [
        (spec.hostname, "_"),
        (str(webserver.access_log(spec.key)), "/dev/stdout"),
        (str(webserver.error_log(spec.key)), "/dev/stderr"),
        ("disable_symlinks if_not_owner from=$document_root;", "disable_symlinks off;"),
        (f"unix:{settings.SITES_RUNTIME_DIR}/sockets/{spec.key}.sock", f"unix:{tmp_path}/php-fpm.sock"),
        ("include /etc/nginx/fastcgi_params;", f"include {RUNTIME_DIR / 'fastcgi_params'};"),
    ]:
        assert local in local_block
        local_block = local_block.replace(local, cloud)
    assert cloud_block == local_block
    pool = (tmp_path / "php-fpm-pool.conf").read_text()
    assert "clear_env = no" in pool and "pm = ondemand" in pool and "${" not in pool


def test_wp_config_refuses_to_run_without_its_environment(tmp_path):
    result = subprocess.run(
        ["php", "-r", f"include '{RUNTIME_DIR / 'wp-config.php'}';"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert "DB_NAME is missing" in result.stdout


def _home_for(host: str, home: str = "http://blog--acme.sites.localhost:8080") -> str:
    """WP_HOME as wp-config.php makes it for a request with this Host header."""
    env = {
        "PATH": "/usr/bin:/bin",
        "WP_HOME": home,
        "AIPRESS_HOSTNAMES": "blog--acme.sites.localhost,www.their-shop.test",
        **dict.fromkeys(("DB_NAME", "DB_USER", "DB_PASSWORD", *SALT_NAMES), "x"),
    }
    code = (
        f"define('AIPRESS_CONFIG_ONLY', true); $_SERVER['HTTP_HOST'] = {host!r}; "
        f"include '{RUNTIME_DIR / 'wp-config.php'}'; echo WP_HOME, ' ', WP_SITEURL;"
    )
    result = subprocess.run(["php", "-r", code], env=env, capture_output=True, text=True, check=True)
    return result.stdout


def test_wordpress_answers_under_the_name_asked_only_when_it_is_one_of_its_own():
    assert _home_for("www.their-shop.test:8080") == "http://www.their-shop.test:8080 http://www.their-shop.test:8080"
    # The port is WP_HOME's, whatever the request said; the name's case does not matter.
    assert _home_for("WWW.Their-Shop.test:9999") == "http://www.their-shop.test:8080 http://www.their-shop.test:8080"
    platform = "http://blog--acme.sites.localhost:8080 http://blog--acme.sites.localhost:8080"
    for forged in ("evil.test", "evil.test:8080", "www.their-shop.test.evil.test", "", "www.their-shop.test/x"):
        assert _home_for(forged) == platform, forged
    assert _home_for("www.their-shop.test", home="https://blog--acme.sites.example.com").startswith(
        "https://www.their-shop.test "
    )


def test_only_hostnames_reach_nginx_server_name():
    spec = SiteSpec(
        tenant_id=1, tenant_slug="acme", site_id=2, slug="blog", title="Blog", hostname="blog--acme.sites.localhost",
        max_php_workers=2, admin_email="a@example.com",
        aliases=("www.their-shop.test", "evil.test; return 200", "a..b.test", "x.test\nlisten 80", "*.test"),
    )  # fmt: skip
    assert webserver.server_names(spec) == "blog--acme.sites.localhost www.their-shop.test"
