"""The local runtime's steps against the real MariaDB and Debian's WordPress."""

import os
from pathlib import Path

import pymysql
import pytest

from sites.runtimes.local import database, files
from sites.runtimes.local.runtime import LocalRuntime
from sites.spec import SiteSpec
from sites.tests.conftest import missing, tear_down


def _spec(site_id, password="pw-" + "x" * 30):
    return SiteSpec(
        tenant_id=1,
        tenant_slug="acme",
        site_id=site_id,
        slug=f"site{site_id}",
        title="T",
        hostname=f"site{site_id}--acme.sites.localhost",
        max_php_workers=2,
        admin_email="a@example.com",
        secrets={"DB_PASSWORD": password},
    )


@pytest.fixture
def runtime():
    runtime = LocalRuntime()
    specs = []
    yield runtime, specs
    for spec in specs:
        tear_down(runtime, spec)


def _connect(spec, db=None):
    host, port = database.sites_db_host().split(":")
    return pymysql.connect(
        host=host,
        port=int(port),
        user=database.database_name(spec.key),
        password=spec.secrets["DB_PASSWORD"],
        database=db,
    )


def test_database_per_site_is_idempotent_and_isolated(runtime):
    rt, specs = runtime
    a, b = _spec(1), _spec(2, password="other-" + "y" * 30)
    specs += [a, b]
    for spec in (a, b):
        rt.ensure("database", spec, None)
    rt.ensure("database", a, None)  # again: converges, no error
    assert rt.status("database", a)
    with _connect(a, database.database_name(a.key)) as conn, conn.cursor() as cursor:
        cursor.execute("CREATE TABLE t (id int)")
        cursor.execute("SHOW DATABASES")
        visible = {row[0] for row in cursor.fetchall()}
    assert database.database_name(b.key) not in visible
    with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
        _connect(a, database.database_name(b.key))


def test_database_password_converges_to_the_stored_secret(runtime):
    rt, specs = runtime
    spec = _spec(3)
    specs.append(spec)
    rt.ensure("database", spec, None)
    changed = _spec(3, password="rotated-" + "z" * 30)
    rt.ensure("database", changed, None)
    _connect(changed, database.database_name(changed.key)).close()
    with pytest.raises(pymysql.err.OperationalError, match="Access denied"):
        _connect(spec, database.database_name(spec.key))


def test_files_hard_link_core_and_use_the_platform_wp_config(runtime, settings):
    rt, specs = runtime
    spec = _spec(4)
    specs.append(spec)
    rt.ensure("files", spec, None)
    root = files.docroot(spec.key)
    core = Path(settings.WORDPRESS_CORE_DIR)
    assert os.stat(root / "wp-settings.php").st_ino == os.stat(core / "wp-settings.php").st_ino
    assert (root / "wp-config.php").read_text() == (files.RUNTIME_TEMPLATES / "wp-config.php").read_text()
    assert (root / "wp-content" / "themes" / "twentytwentythree" / "style.css").exists()
    assert (root / "wp-content" / "uploads").is_dir()
    (root / "wp-content" / "uploads" / "photo.jpg").write_bytes(b"jpeg")
    rt.ensure("files", spec, None)  # again: the site's uploads are kept
    assert (root / "wp-content" / "uploads" / "photo.jpg").read_bytes() == b"jpeg"
    assert rt.status("files", spec)


def test_delete_removes_what_the_site_owned_and_nothing_else(runtime):
    rt, specs = runtime
    gone, kept = _spec(5), _spec(6)
    specs.append(kept)
    for spec in (gone, kept):
        for step in ("database", "files"):
            rt.ensure(step, spec, None)
    tear_down(rt, gone)
    tear_down(rt, gone)  # idempotent
    assert {"database", "files"} <= missing(rt, gone)
    assert not files.site_dir(gone.key).exists()
    assert not {"database", "files"} & missing(rt, kept)
    _connect(kept, database.database_name(kept.key)).close()


def test_a_files_step_cut_short_mid_swap_loses_none_of_the_sites_content(runtime):
    rt, specs = runtime
    spec = _spec(7)
    specs.append(spec)
    rt.ensure("files", spec, None)
    root = files.docroot(spec.key)
    (root / "wp-content" / "uploads" / "photo.jpg").write_bytes(b"jpeg")
    # A run that died after moving the content into the staging tree, before swapping it in.
    for marker in root.glob(".aipress-core-*"):
        marker.unlink()
    staging = files.site_dir(spec.key) / "htdocs.new"
    staging.mkdir()
    (root / "wp-content").rename(staging / "wp-content")
    rt.ensure("files", spec, None)
    assert (root / "wp-content" / "uploads" / "photo.jpg").read_bytes() == b"jpeg"


def test_the_mail_plugin_comes_back_and_a_link_the_site_planted_leads_nowhere(runtime, tmp_path):
    rt, specs = runtime
    spec = _spec(8)
    specs.append(spec)
    rt.ensure("files", spec, None)
    mu_plugins = files.docroot(spec.key) / "wp-content" / "mu-plugins"
    (mu_plugins / "aipress-mail.php").unlink()
    rt.ensure("files", spec, None)
    assert (mu_plugins / "aipress-mail.php").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for plugin in mu_plugins.iterdir():
        plugin.unlink()
    mu_plugins.rmdir()
    mu_plugins.symlink_to(elsewhere)  # what a site's code could do to its own wp-content
    rt.ensure("files", spec, None)
    assert list(elsewhere.iterdir()) == []  # the platform (root) wrote nothing through the link
