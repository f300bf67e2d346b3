"""A site through the API, as an integrator sees it: 202, live steps, a real WordPress, then gone."""

import time

import pytest
from django_tenants.utils import tenant_context

from sites import tasks
from sites.inventory.models import SiteRecord
from sites.models import Site, SiteEvent, SiteSecret
from sites.runtimes.local import files, health, webserver

pytestmark = pytest.mark.django_db(transaction=True)


def _wait(client, name, wanted, timeout=90):
    deadline = time.monotonic() + timeout
    body = {}
    while time.monotonic() < deadline:
        body = client.get(f"/api/v1/sites/{name}/").json()
        if body.get("status") == wanted:
            return body
        time.sleep(0.25)
    raise AssertionError(f"{name} is {body.get('status')} ({body.get('last_error')}), not {wanted}")


@pytest.fixture
def api(make_tenant, client_for, api_key_for, site_daemons, celery_worker_thread):
    tenant = make_tenant(slug="acme")
    client = client_for(tenant, key=api_key_for(tenant))
    yield tenant, client
    # Leave nothing behind on the host, whatever the test did.
    from sites import services
    from sites.runtimes import get_runtime

    with tenant_context(tenant):
        for site in Site.objects.all():
            get_runtime().delete(services.site_spec(site=site, tenant=tenant))


def test_create_provision_serve_and_delete_through_the_api(api):
    tenant, client = api
    created = client.post("/api/v1/sites/", {"name": "blog", "title": "Crumbs Blog"}, format="json")
    assert created.status_code == 202, created.content
    body = created.json()
    assert body["status"] == "provisioning"
    assert body["url"].startswith("http://blog--acme.sites.localhost:")
    assert body["admin_url"].endswith("/wp-admin/")
    admin_password = body["admin_password"]
    assert len(admin_password) >= 20

    ready = _wait(client, "blog", "ready")
    assert ready["wordpress_version"] == files.wordpress_version()
    assert "admin_password" not in ready
    status, _, page = health.fetch("blog--acme.sites.localhost", "/")
    assert status == 200 and b"Crumbs Blog" in page

    events = client.get("/api/v1/sites/blog/events/").json()
    succeeded = [
        e["step"] for e in reversed(events) if e["outcome"] == "succeeded" and not e["step"].startswith("status")
    ]
    assert succeeded == ["request", "database", "files", "php_pool", "web_server", "wordpress_install", "health_check"]
    assert all(e["duration_ms"] is not None for e in events if e["step"] == "database")
    with tenant_context(tenant):
        # The admin password was shown once; WordPress keeps its own hash, we keep nothing.
        assert not SiteSecret.objects.filter(name="WP_ADMIN_PASSWORD").exists()

    deleted = client.delete("/api/v1/sites/blog/")
    assert deleted.status_code == 202
    deadline = time.monotonic() + 60
    while client.get("/api/v1/sites/blog/").status_code != 404 and time.monotonic() < deadline:
        time.sleep(0.25)
    assert client.get("/api/v1/sites/blog/").status_code == 404
    assert not SiteRecord.objects.filter(tenant=tenant).exists()
    assert health.fetch("blog--acme.sites.localhost", "/")[0] == 404


def test_bad_requests_are_clear_and_change_nothing(api):
    tenant, client = api
    bad = client.post("/api/v1/sites/", {"name": "Not Valid!"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "name"
    assert client.post("/api/v1/sites/", {"title": "no name"}, format="json").status_code == 400
    tenant.max_sites = 0
    tenant.save()
    full = client.post("/api/v1/sites/", {"name": "blog"}, format="json")
    assert full.status_code == 409
    assert "allows 0 sites" in full.json()["detail"]
    assert client.post("/api/v1/sites/ghost/suspend/").status_code == 404
    with tenant_context(tenant):
        assert not Site.objects.exists()


def test_reconciler_repairs_a_server_block_removed_by_hand(api):
    tenant, client = api
    client.post("/api/v1/sites/", {"name": "shop"}, format="json")
    _wait(client, "shop", "ready")
    with tenant_context(tenant):
        site = Site.objects.get(slug="shop")
        from sites import services

        key = services.site_spec(site=site, tenant=tenant).key
    webserver.site_conf(key).unlink()
    webserver.server.nginx_reload()
    assert health.fetch("shop--acme.sites.localhost", "/")[0] == 404
    counts = tasks.sites_reconcile()
    assert counts["repaired"] == 1
    assert health.fetch("shop--acme.sites.localhost", "/")[0] == 200
    with tenant_context(tenant):
        repaired = SiteEvent.objects.get(site__slug="shop", outcome="repaired")
    assert repaired.step == "web_server"


def test_suspend_and_resume_through_the_api(api):
    _, client = api
    client.post("/api/v1/sites/", {"name": "news"}, format="json")
    _wait(client, "news", "ready")
    assert client.post("/api/v1/sites/news/suspend/").json()["status"] == "suspended"
    assert health.fetch("news--acme.sites.localhost", "/")[0] == 503
    assert client.post("/api/v1/sites/news/suspend/").status_code == 409
    assert client.post("/api/v1/sites/news/resume/").json()["status"] == "ready"
    assert health.fetch("news--acme.sites.localhost", "/")[0] == 200


def test_cli_creates_lists_and_deletes(api):
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    out, err = io.StringIO(), io.StringIO()
    call_command("site", "create", "--tenant", "acme", "cli-site", "--title", "From CLI", stdout=out, stderr=err)
    lines = out.getvalue().strip().splitlines()
    assert lines[0].startswith("cli-site ready: http://cli-site--acme.sites.localhost:")
    assert len(lines[-1]) >= 20 and " " not in lines[-1]  # the admin password, alone, once
    assert "shown once" in err.getvalue()
    listing = io.StringIO()
    call_command("site", "list", "--tenant", "acme", stdout=listing)
    assert "cli-site" in listing.getvalue() and "ready" in listing.getvalue()
    with pytest.raises(CommandError, match="No site “ghost”"):
        call_command("site", "delete", "--tenant", "acme", "ghost")
    done = io.StringIO()
    call_command("site", "delete", "--tenant", "acme", "cli-site", stdout=done)
    assert "cli-site deleted." in done.getvalue()


def test_suspending_the_tenant_suspends_its_sites_and_resuming_restores_only_those(api):
    from tenants import services as tenant_services
    from tenants.audit import Actor

    tenant, client = api
    for name in ("one", "two"):
        client.post("/api/v1/sites/", {"name": name}, format="json")
    _wait(client, "one", "ready")
    _wait(client, "two", "ready")
    client.post("/api/v1/sites/two/suspend/")  # paused by a member, before the tenant is suspended
    tenant_services.tenant_suspend(actor=Actor.system("staff"), tenant=tenant, reason="unpaid")
    deadline = time.monotonic() + 30
    while health.fetch("one--acme.sites.localhost", "/")[0] != 503 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert health.fetch("one--acme.sites.localhost", "/")[0] == 503
    tenant_services.tenant_resume(actor=Actor.system("staff"), tenant=tenant)
    deadline = time.monotonic() + 30
    while health.fetch("one--acme.sites.localhost", "/")[0] != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert health.fetch("one--acme.sites.localhost", "/")[0] == 200
    assert health.fetch("two--acme.sites.localhost", "/")[0] == 503  # the member's own pause stands
    with tenant_context(tenant):
        assert dict(Site.objects.values_list("slug", "status")) == {"one": "ready", "two": "suspended"}


ENV_PROBE = (
    "<?php header('Content-Type: text/plain');"
    " echo getenv($_GET['name']) === false ? '<unset>' : getenv($_GET['name']);"
)


def test_env_vars_reach_the_running_site_and_sensitive_ones_stay_masked(api):
    import shutil

    from sites import services
    from sites.runtimes.local import files, system_user
    from sites.runtimes.local.server import running_as_root

    tenant, client = api
    client.post("/api/v1/sites/", {"name": "shop"}, format="json")
    _wait(client, "shop", "ready")
    with tenant_context(tenant):
        key = services.site_spec(site=Site.objects.get(slug="shop"), tenant=tenant).key
    probe = files.docroot(key) / "env.php"
    probe.write_text(ENV_PROBE)
    if running_as_root():
        shutil.chown(probe, system_user.user_name(key))

    def seen(name):
        return health.fetch("shop--acme.sites.localhost", f"/env.php?name={name}")[2].decode()

    put = client.put(
        "/api/v1/sites/shop/env/STRIPE_SECRET/", {"value": "sk_live_123", "sensitive": True}, format="json"
    )
    assert put.status_code == 200, put.content
    assert put.json()["value"] == "••••••••"
    client.put("/api/v1/sites/shop/env/SHOP_CURRENCY/", {"value": "EUR"}, format="json")
    assert seen("STRIPE_SECRET") == "sk_live_123"
    assert seen("SHOP_CURRENCY") == "EUR"
    listed = {v["name"]: v["value"] for v in client.get("/api/v1/sites/shop/env/").json()}
    assert listed == {"SHOP_CURRENCY": "EUR", "STRIPE_SECRET": "••••••••"}
    assert "sk_live_123" not in client.get("/api/v1/sites/shop/env/STRIPE_SECRET/").content.decode()
    # Clearing the flag does not reveal it.
    client.put("/api/v1/sites/shop/env/STRIPE_SECRET/", {"value": "sk_live_456", "sensitive": False}, format="json")
    assert client.get("/api/v1/sites/shop/env/STRIPE_SECRET/").json()["value"] == "••••••••"

    for name, payload, field in [
        ("lower_case", {"value": "x"}, "name"),
        ("DB_PASSWORD", {"value": "x"}, "name"),
        ("WP_HOME", {"value": "x"}, "name"),
        ("AIPRESS_X", {"value": "x"}, "name"),
        ("NUL", {"value": "a\x00b"}, "value"),
        ("LD_PRELOAD", {"value": "evil.so"}, "name"),
        ("PHPRC", {"value": "."}, "name"),
    ]:
        bad = client.put(f"/api/v1/sites/shop/env/{name}/", payload, format="json")
        assert bad.status_code == 400, name
        assert bad.json()["errors"][0]["field"] == field
    assert seen("DB_PASSWORD") != "x"

    assert client.delete("/api/v1/sites/shop/env/SHOP_CURRENCY/").status_code == 204
    assert seen("SHOP_CURRENCY") == "<unset>"
    assert client.delete("/api/v1/sites/shop/env/SHOP_CURRENCY/").status_code == 404


def test_patch_changes_title_and_scaling_on_the_running_site(api):
    from sites.runtimes.local import pool

    tenant, client = api
    client.post("/api/v1/sites/", {"name": "cafe", "title": "Old Name"}, format="json")
    _wait(client, "cafe", "ready")
    changed = client.patch(
        "/api/v1/sites/cafe/", {"title": "New Name", "scaling": {"max_php_workers": 7}}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert (changed.json()["title"], changed.json()["scaling"], changed.json()["status"]) == (
        "New Name",
        {"max_php_workers": 7},
        "ready",
    )
    assert b"New Name" in health.fetch("cafe--acme.sites.localhost", "/")[2]
    with tenant_context(tenant):
        from sites import services

        key = services.site_spec(site=Site.objects.get(slug="cafe"), tenant=tenant).key
    assert "pm.max_children = 7" in pool.pool_file(key).read_text()
    bad = client.patch("/api/v1/sites/cafe/", {"scaling": {"max_php_workers": 500}}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "scaling.max_php_workers"
    assert client.patch("/api/v1/sites/cafe/", {}, format="json").status_code == 400
