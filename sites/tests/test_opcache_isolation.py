"""One opcache (shared memory) serves every site's pool of the php-fpm master: each site must only
ever run its own scripts from it, see its own new code, and learn nothing of the others through it.
Real php-fpm, nginx and WordPress sites, attacked from PHP running in a site's own pool."""

import json
import os
import time
from pathlib import Path

from kernel.testing import wait_until
from sites.runtimes.local import files, health, pool, system_user
from sites.spec import SiteSpec
from sites.tests.conftest import put_php, run_php

SAME_PATH = "<?php header('Content-Type: application/json'); require __DIR__ . '/same-lib.php'; echo json_encode(LIB);"


def test_two_sites_holding_a_script_at_the_same_path_each_run_their_own(provisioned):
    _, provision = provisioned
    a, b = provision(401), provision(402)
    for spec, name in ((a, "a"), (b, "b")):
        put_php(spec, "same.php", SAME_PATH)
        put_php(spec, "same-lib.php", f"<?php const LIB = 'site {name}';")
    # Taking turns, many times: every answer comes from the site's own files, cached or not.
    for _ in range(5):
        assert run_php(a, "same.php") == "site a"
        assert run_php(b, "same.php") == "site b"


def _owned_by_site(spec: SiteSpec, name: str, code: str) -> str:
    """A script only the site's own user may read (as a plugin of the site's would write it)."""
    path = files.docroot(spec.key) / "wp-content" / name
    path.write_text(code)
    ids = system_user.ids(spec.key)
    assert ids is not None, "the sandbox's users need root"
    os.chown(path, *ids)
    path.chmod(0o600)
    _written_a_minute_ago(path)
    return str(path)


def _written_a_minute_ago(path: Path) -> None:
    """opcache keeps no script changed in the last seconds (opcache.file_update_protection)."""
    os.utime(path, (time.time() - 60, time.time() - 60))


INCLUDE_PROBE = r"""<?php
header('Content-Type: application/json');
$got = [];
foreach (json_decode($_GET['paths']) as $path) {
    $value = @include $path;
    $got[$path] = $value === false ? 'refused' : $value;
}
$got['db_password'] = getenv('DB_PASSWORD');
echo json_encode($got);
"""


def test_a_script_site_a_alone_may_read_is_never_run_for_site_b_from_the_cache(provisioned):
    """Site B asks for scripts of A's right after A ran them (so they are in the cache, and inside
    opcache's revalidation window): A's secret script, and A's prepended file, which holds A's
    database password. Without opcache.validate_permission, opcache answered from memory without
    asking the filesystem (nor open_basedir)."""
    _, provision = provisioned
    a, b = provision(403), provision(404)
    secret = _owned_by_site(a, "secret.php", "<?php return 'only for site a';")
    put_php(
        a, "run-secret.php", "<?php header('Content-Type: application/json'); echo json_encode(require $_GET['p']);"
    )
    put_php(b, "include.php", INCLUDE_PROBE)
    a_environment = str(pool.env_file(a.key))
    _written_a_minute_ago(pool.env_file(a.key))
    for _ in range(5):
        assert run_php(a, "run-secret.php", p=secret) == "only for site a"  # cached now, by A's request
        got = run_php(b, "include.php", paths=json.dumps([secret, a_environment]))
        assert got[secret] == "refused"
        assert got[a_environment] == "refused"
        assert got["db_password"] == b.secrets["DB_PASSWORD"]  # still B's own, not A's


API_PROBE = r"""<?php
header('Content-Type: application/json');
echo json_encode([
    'status' => @opcache_get_status(true),
    'reset' => @opcache_reset(),
    'invalidate' => @opcache_invalidate($_GET['other'], true),
    'cached' => @opcache_is_script_cached($_GET['other']),
]);
"""


def test_no_site_may_list_empty_or_invalidate_the_shared_opcache(provisioned):
    _, provision = provisioned
    a, b = provision(405), provision(406)
    assert health.fetch(a.hostname, "/")[0] == 200  # A's WordPress is in the cache
    put_php(b, "api.php", API_PROBE)
    answer = run_php(b, "api.php", other=str(files.docroot(a.key) / "index.php"))
    # opcache_get_status() would list every site's scripts by path; the others would let one site
    # empty or thin the cache of all.
    assert answer == {"status": False, "reset": False, "invalidate": False, "cached": False}


def test_a_script_the_site_rewrites_runs_in_its_new_version(provisioned):
    """A plugin update rewrites PHP files in place: the new code runs within opcache's revalidation
    period (opcache.revalidate_freq), without anyone emptying the cache."""
    _, provision = provisioned
    spec = provision(407)
    plugin = files.docroot(spec.key) / "plugin.php"
    put_php(spec, plugin.name, "<?php header('Content-Type: application/json'); echo json_encode('version 1');")
    _written_a_minute_ago(plugin)
    for _ in range(3):
        assert run_php(spec, plugin.name) == "version 1"  # kept in the opcache from the first request
    put_php(spec, plugin.name, "<?php header('Content-Type: application/json'); echo json_encode('version 2 !');")
    wait_until(lambda: run_php(spec, plugin.name) == "version 2 !", timeout=20, what="the new version to run")
    # And a new file runs at once.
    put_php(spec, "new-plugin.php", "<?php header('Content-Type: application/json'); echo json_encode('new');")
    assert run_php(spec, "new-plugin.php") == "new"
