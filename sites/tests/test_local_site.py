"""A whole site on the local runtime: real nginx, php-fpm, MariaDB and WordPress."""

from dataclasses import replace

import pytest

from kernel.testing import wait_until
from sites.runtimes.local import files, health, pool, server, webserver
from sites.tests.conftest import missing, provision_all, put_php, run_php, site_spec, tear_down


def test_site_serves_wordpress_with_its_title(provisioned):
    runtime, provision = provisioned
    spec = provision(101, title="Crumbs Bakery")
    status, _, body = health.fetch(spec.hostname, "/")
    assert status == 200
    assert b"Crumbs Bakery" in body
    status, headers, _ = health.fetch(spec.hostname, "/wp-admin/", timeout=15)
    assert status == 200  # the login page, after wp-admin's redirect
    # Static files come from nginx, not PHP.
    status, headers, _ = health.fetch(spec.hostname, "/wp-includes/css/dashicons.min.css")
    assert (status, headers.get("content-type")) == (200, "text/css")
    assert missing(runtime, spec) == set()
    # Every step again: nothing changes, nothing breaks.
    provision_all(runtime, spec)
    assert health.fetch(spec.hostname, "/")[0] == 200


def test_bad_server_block_is_refused_and_other_sites_keep_serving(provisioned, monkeypatch):
    _, provision = provisioned
    spec = provision(102)
    broken = site_spec(103)
    original = webserver.render
    monkeypatch.setattr(webserver, "render", lambda s, suspended=False: original(s).replace("listen", "lissen", 1))
    with pytest.raises(Exception, match="nginx server block was refused"):
        webserver.ensure_server_block(broken)
    monkeypatch.undo()
    assert not webserver.site_conf(broken.key).exists()
    assert server.nginx_test() is None
    assert health.fetch(spec.hostname, "/")[0] == 200


def test_suspend_answers_503_and_resume_restores(provisioned):
    runtime, provision = provisioned
    spec = provision(104)
    runtime.ensure("server", replace(spec, suspended=True), None)
    status, _, body = health.fetch(spec.hostname, "/")
    assert (status, b"suspended" in body) == (503, True)
    runtime.ensure("server", spec, None)
    assert health.fetch(spec.hostname, "/")[0] == 200


def test_idle_site_runs_no_php_process(provisioned):
    _, provision = provisioned
    spec = provision(105)
    import subprocess

    def no_php_process() -> bool:
        listing = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=True).stdout
        return f"pool {spec.key}" not in listing

    assert not no_php_process()  # the health check's request started one...
    wait_until(
        no_php_process, timeout=25, every=0.5, what="the idle pool to stop its PHP process"
    )  # ...gone after pm.process_idle_timeout (10 s)
    assert pool.pool_present(spec.key)


def test_delete_removes_everything_and_other_sites_still_serve(provisioned):
    runtime, provision = provisioned
    gone, kept = provision(106), provision(107)
    tear_down(runtime, gone)
    assert missing(runtime, gone) == {"database", "files", "pool", "server"}
    status, headers, body = health.fetch(gone.hostname, "/")
    # A small page a browser shows, not a file it downloads (nginx's default type is octet-stream).
    assert (status, headers["content-type"]) == (404, "text/html")
    assert b"No site here" in body
    assert health.fetch(kept.hostname, "/")[0] == 200


PROBE_PHP = r"""<?php
header('Content-Type: application/json');
mysqli_report(MYSQLI_REPORT_OFF);  // report failures as values, not exceptions
[$host, $port] = explode(':', getenv('DB_HOST'));
$read = @file_get_contents($_GET['path']);
$listed = @scandir(dirname($_GET['path']));
$db = @new mysqli($host, getenv('DB_USER'), getenv('DB_PASSWORD'), '', (int) $port);
$used = $db->connect_errno ? 'no connection' : (@$db->select_db($_GET['db']) ? 'opened' : $db->error);
$own = $db->connect_errno ? false : @$db->select_db(getenv('DB_NAME'));
echo json_encode(['read' => $read, 'listed' => $listed, 'other_db' => $used, 'own_db' => $own]);
"""


def test_site_php_cannot_read_another_site_nor_use_its_database(provisioned):
    from sites.runtimes.local import database

    _, provision = provisioned
    a, b = provision(110), provision(111)
    secret = files.docroot(b.key) / "wp-content" / "uploads" / "private.txt"
    secret.write_text("only for site b")
    put_php(a, "probe.php", PROBE_PHP)
    result = run_php(a, "probe.php", path=str(secret), db=database.database_name(b.key))
    assert result["read"] is False
    assert result["listed"] is False
    assert result["own_db"] is True  # the probe itself works...
    assert "denied" in result["other_db"].lower()  # ...but B's database is closed to A


def test_an_install_cut_short_is_started_afresh(provisioned):
    from sites.runtimes.local import database, install

    _, provision = provisioned
    spec = provision(112, title="Second Try")
    # Simulate a worker killed inside wp_install: the tables are there, the completion mark is not.
    with database.admin_connection() as conn, conn.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM `{database.database_name(spec.key)}`.wp_options WHERE option_name = 'aipress_installed'"
        )
        cursor.execute(f"DELETE FROM `{database.database_name(spec.key)}`.wp_users")
    assert "installed" in install.install_wordpress(spec)
    with database.admin_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT user_email FROM `{database.database_name(spec.key)}`.wp_users")
        assert cursor.fetchall() == (("owner@acme.test",),)
    assert health.fetch(spec.hostname, "/")[0] == 200


# Says it has started (a file the test waits for), then takes its time.
SLOW_PHP = "<?php touch(__DIR__ . '/wp-content/uploads/started'); sleep(3); echo 'finished';"


def test_a_change_to_one_site_does_not_interrupt_another(provisioned):
    import threading

    runtime, provision = provisioned
    changing, busy = provision(113), provision(114)
    put_php(busy, "slow.php", SLOW_PHP)
    started = files.docroot(busy.key) / "wp-content" / "uploads" / "started"
    result = {}
    request = threading.Thread(target=lambda: result.update(answer=health.fetch(busy.hostname, "/slow.php")))
    request.start()
    wait_until(started.exists, what="the slow request to be inside PHP")
    runtime.ensure("pool", replace(changing, env={"NEW_SETTING": "on"}), None)  # php-fpm reloads every pool
    request.join(timeout=30)
    status, _, body = result["answer"]
    assert (status, body) == (200, b"finished")


def test_a_refused_pool_never_reaches_php_fpm_even_when_another_process_reloads(provisioned, monkeypatch):
    """Another process's reload at the worst moment (while this pool is being tested) used to load
    the untested file: php-fpm exited and every site answered 502."""
    from sites.runtimes.local.runtime import LocalRuntime
    from sites.spec import StepError

    runtime, provision = provisioned
    serving = provision(120)
    broken = site_spec(121)
    runtime.ensure("files", broken, None)
    log = server.logs_dir() / "php-fpm.log"
    real_test = server.PHP_FPM_DAEMON.test

    def test_while_another_process_reloads(main_config):
        seen = log.read_text().count("ready to handle connections")
        server.php_fpm_reload()
        wait_until(
            lambda: (
                log.read_text().count("ready to handle connections") > seen or not server.daemons_running()["php-fpm"]
            ),
            what="php-fpm to finish reloading",
        )
        return real_test(main_config)

    render = pool.render
    monkeypatch.setattr(server.PHP_FPM_DAEMON, "test", test_while_another_process_reloads)
    monkeypatch.setattr(pool, "render", lambda spec, ids: render(spec, ids) + "pm.max_children = banana\n")
    with pytest.raises(StepError, match="The PHP pool was refused"):
        pool.ensure_pool(broken)
    assert not pool.pool_file(broken.key).exists()
    assert server.daemons_running()["php-fpm"]
    assert health.fetch(serving.hostname, "/")[0] == 200
    tear_down(LocalRuntime(), broken)


def test_reloading_nginx_cuts_no_response_in_flight(provisioned):
    """Every site change reloads nginx; visitors of the other sites must not get half a page."""
    import threading

    _, provision = provisioned
    spec = provision(122)
    failures, answered = [], []
    stop = threading.Event()

    def visit():
        while not stop.is_set():
            try:
                answered.append(health.fetch(spec.hostname, "/")[0])
            except Exception as exc:  # noqa: BLE001 - every failure is the finding
                failures.append(repr(exc))

    visitors = [threading.Thread(target=visit) for _ in range(3)]
    for visitor in visitors:
        visitor.start()
    for _ in range(25):
        server.nginx_reload()
    stop.set()
    for visitor in visitors:
        visitor.join()
    assert failures == []
    assert len(answered) > 25 and set(answered) == {200}


def test_an_environment_file_is_never_readable_by_anyone_but_its_site(provisioned):
    import stat

    from sites.runtimes.local import system_user

    _, provision = provisioned
    spec = provision(123)
    info = pool.env_file(spec.key).stat()
    _, gid = system_user.ids(spec.key)
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o440, 0, gid)
    assert [p.name for p in server.php_env_dir().iterdir() if p.name.startswith(".")] == []  # no leftovers
