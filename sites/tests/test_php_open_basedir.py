"""open_basedir, set by the platform's prepended file as each request starts (not in the pool, where
PHP would switch its realpath cache off): it holds as before, the site's code cannot widen or undo
it, and PHP's realpath cache works. Real php-fpm, nginx and WordPress sites."""

import json

from django.conf import settings

from sites.runtimes.local import files, health, pool, server
from sites.tests.conftest import put_php, run_php

PROBE = r"""<?php
header('Content-Type: application/json');
require __DIR__ . '/wp-load.php';
$outside = $_GET['outside'];
$answers = ['allowed' => ini_get('open_basedir'), 'read' => @file_get_contents($outside)];
$answers['widened'] = @ini_set('open_basedir', '/');
$answers['read after widening'] = @file_get_contents($outside);
@ini_restore('open_basedir');
$answers['after restore'] = ini_get('open_basedir');
$answers['read after restore'] = @file_get_contents($outside);
$answers['listed'] = @scandir(dirname($outside));
$answers['symlink'] = function_exists('symlink');
$answers['link'] = function_exists('link');
realpath(__DIR__ . '/wp-includes');
$answers['realpath cached'] = array_key_exists(__DIR__ . '/wp-includes', realpath_cache_get());
echo json_encode($answers);
"""


def _outside_file() -> str:
    """A file any user of this machine may read, outside every site's folder."""
    outside = settings.SITES_ROOT.parent / "world-readable.txt"
    outside.write_text("not the site's")
    outside.chmod(0o644)
    return str(outside)


def test_open_basedir_holds_cannot_be_widened_and_the_realpath_cache_works(provisioned):
    _, provision = provisioned
    spec = provision(410)
    put_php(spec, "basedir.php", PROBE)
    answers = run_php(spec, "basedir.php", outside=_outside_file())
    assert answers["allowed"] == pool.open_basedir(spec.key) == f"{files.site_dir(spec.key)}/:{pool.env_file(spec.key)}"
    for attempt in ("read", "read after widening", "read after restore", "listed"):
        assert answers[attempt] is False, attempt
    assert answers["widened"] is False
    assert answers["after restore"] == answers["allowed"]
    assert answers["symlink"] is False and answers["link"] is False
    # Set before the request (in the pool), open_basedir made PHP switch this cache off.
    assert answers["realpath cached"] is True


USER_INI_PROBE = r"""<?php
header('Content-Type: application/json');
echo json_encode(['allowed' => ini_get('open_basedir'), 'read' => @file_get_contents($_GET['outside'])]);
"""


def test_a_user_ini_of_the_site_cannot_loosen_open_basedir(provisioned):
    """PHP reads a folder's .user.ini before the request starts, so a site may set open_basedir there
    before the platform does: wider, the platform's value narrows it; elsewhere (so that the
    platform's cannot narrow it), none of the site's code runs."""
    _, provision = provisioned
    spec = provision(411)
    outside = _outside_file()
    plugins = files.docroot(spec.key) / "wp-content" / "plugins"
    # Elsewhere: the probe's folder and the platform's prepended file (so both may be opened) and the
    # file outside, but not the site's whole folder, so that the platform's value cannot narrow it.
    elsewhere = f"{plugins / 'elsewhere'}/:{server.php_env_dir()}/:{outside}"
    for folder, value in (("wide", "/"), ("elsewhere", elsewhere)):
        (plugins / folder).mkdir()
        (plugins / folder / ".user.ini").write_text(f"open_basedir = {value}\n")
        (plugins / folder / "probe.php").write_text(USER_INI_PROBE)
    answers = run_php(spec, "wp-content/plugins/wide/probe.php", outside=outside)
    assert answers == {"allowed": pool.open_basedir(spec.key), "read": False}
    status, _, body = health.fetch(spec.hostname, "/wp-content/plugins/elsewhere/probe.php?outside=" + outside)
    assert status == 500
    assert b"not the site's" not in body and b"allowed" not in body
    log = (files.site_dir(spec.key) / "logs" / "php-error.log").read_text()
    assert "open_basedir was set before the platform could set it" in log
    # The site itself still serves.
    assert health.fetch(spec.hostname, "/")[0] == 200
    assert json.loads(health.fetch(spec.hostname, "/wp-json/")[2])["name"]


def test_a_pool_made_before_is_seen_as_missing_and_made_anew(provisioned):
    """Pools rendered before open_basedir moved into the prepended file set it themselves (and turn
    PHP's realpath cache off): the reconciler sees them as missing and its repair renders them anew."""
    runtime, provision = provisioned
    spec = provision(412)
    assert runtime.status("pool", spec)
    made_before = (
        pool.pool_file(spec.key).read_text() + f"php_admin_value[open_basedir] = {pool.open_basedir(spec.key)}\n"
    )
    pool.pool_file(spec.key).write_text(made_before)
    assert not runtime.status("pool", spec)
    runtime.ensure("pool", spec, None)
    assert runtime.status("pool", spec)
    assert "php_admin_value[open_basedir]" not in pool.pool_file(spec.key).read_text()
