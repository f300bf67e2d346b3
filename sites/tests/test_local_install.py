"""WordPress's installer on the local runtime: success is what it prints, and a worker killed in
the middle never leaves an installer running beside the next one."""

import os
import signal
import subprocess
import sys
import threading
from dataclasses import replace

import pytest
from django.conf import settings

from kernel.testing import wait_until
from sites.runtimes.local import database, health, install, pool, processes
from sites.spec import StepError
from sites.tests.conftest import provision_all, site_spec, tear_down

BEFORE_INSTALL = ["database", "files", "pool", "server"]


@pytest.fixture
def prepared(provisioned):
    """A site with every step before the install done; deleted afterwards."""
    runtime, _ = provisioned
    made = []

    def prepare(site_id):
        spec = site_spec(site_id)
        made.append(spec)
        provision_all(runtime, spec, BEFORE_INSTALL)
        return spec

    yield prepare
    for spec in made:
        tear_down(runtime, spec)


def test_an_installer_that_prints_an_error_page_has_failed(prepared):
    spec = prepared(130)
    # WordPress answers a database it cannot log in to with an HTML error page and exit code 0.
    wrong = replace(spec, secrets={**spec.secrets, "DB_PASSWORD": "not-the-password"})
    pool.ensure_pool(wrong)  # the site's environment now holds a password its database refuses
    with pytest.raises(StepError, match="Error establishing a database connection"):
        install.install_wordpress(wrong)
    pool.ensure_pool(spec)
    assert "installed" in install.install_wordpress(spec)


WORKER = """
import django, sys
django.setup()
from sites.runtimes.local import install
from sites.tests.conftest import provision_all, site_spec, tear_down
install.install_wordpress(site_spec(int(sys.argv[1])))
"""


def _worker_environment():
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "aipress.settings",
        "SITES_ROOT": str(settings.SITES_ROOT),
        "SITES_RUNTIME_DIR": str(settings.SITES_RUNTIME_DIR),
        "SITES_PORT": str(settings.SITES_PORT),
        "SITES_KEY_PREFIX": settings.SITES_KEY_PREFIX,
        "SITES_SECRET_KEYS": ",".join(settings.SITES_SECRET_KEYS),
    }


def test_a_retry_ends_the_installer_a_killed_worker_left_running(prepared):
    spec = prepared(131)
    pid_file = install._pid_file(spec.key)
    with database.admin_connection() as lock, lock.cursor() as cursor:
        # Every write waits: the installer hangs inside wp_install, as a slow one would.
        cursor.execute("FLUSH TABLES WITH READ LOCK")
        worker = subprocess.Popen(
            [sys.executable, "-c", WORKER, "131"], cwd=settings.BASE_DIR, env=_worker_environment()
        )
        orphan = int(wait_until(lambda: pid_file.exists() and pid_file.read_text(), what="the installer to start"))
        wait_until(lambda: processes.group_members(orphan), what="the installer's processes")
        worker.send_signal(signal.SIGKILL)  # no cleanup of any kind: as if the machine lost the worker
        worker.wait(timeout=10)
        assert processes.group_members(orphan), "the killed worker's installer is still running"

        retry: dict = {}
        thread = threading.Thread(target=lambda: retry.update(result=_attempt(spec)))
        thread.start()
        wait_until(lambda: not processes.group_members(orphan), what="the retry to end the old installer")
        cursor.execute("UNLOCK TABLES")
        thread.join(timeout=120)
    assert "installed" in retry["result"], retry["result"]
    with database.admin_connection() as conn, conn.cursor() as cursor:
        cursor.execute(f"SELECT user_email FROM `{database.database_name(spec.key)}`.wp_users")
        assert cursor.fetchall() == (("owner@acme.test",),)
    assert health.fetch(spec.hostname, "/")[0] == 200


def _attempt(spec):
    try:
        return install.install_wordpress(spec)
    except StepError as exc:
        return f"failed: {exc}"
