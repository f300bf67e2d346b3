"""The cloud image's entrypoint and the local runtime render the same files from the same inputs."""

import os
import subprocess
from pathlib import Path

from django.conf import settings

from sites.runtimes.local import files, webserver
from sites.spec import SiteSpec

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
