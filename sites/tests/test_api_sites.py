"""A site through the API, as an integrator sees it: 202 with an operation to follow, live steps, a
real WordPress on the local runtime, changes applied by operations, then gone. A real worker runs the
pipeline; nginx, php-fpm and MariaDB are real."""

import pytest
from django_tenants.utils import tenant_context

from kernel.testing import wait_until
from sites import pipeline, tasks
from sites.inventory.models import SiteRecord
from sites.models import Site, SiteEvent, SiteSecret
from sites.runtimes.local import files, health, webserver
from sites.tests.conftest import tear_down

pytestmark = pytest.mark.django_db(transaction=True)


def _finished(client, accepted, timeout=90):
    """Follow an accepted change's operation to its end; the operation's last state."""
    url = accepted.json()["operation"]["url"]
    assert accepted["Location"] == url

    def done():
        body = client.get(url).json()
        return body if body["state"] in ("succeeded", "failed", "cancelled") else None

    return wait_until(done, timeout=timeout, what=f"operation {url}")


@pytest.fixture
def api(make_tenant, client_for, api_key_for, site_daemons, celery_worker_thread):
    from sites.runtimes.local.runtime import LocalRuntime

    tenant = make_tenant(slug="acme")
    client = client_for(tenant, key=api_key_for(tenant))
    yield tenant, client
    # Leave nothing behind on the host, whatever the test did.
    with tenant_context(tenant):
        for site in Site.objects.all():
            tear_down(LocalRuntime(), pipeline.site_spec(site=site, tenant=tenant))


def _create(client, name, title=""):
    created = client.post("/api/v1/sites/", {"name": name, "title": title or name.title()}, format="json")
    assert created.status_code == 202, created.content
    assert _finished(client, created)["state"] == "succeeded"
    return created


def test_create_provision_serve_and_delete_through_the_api(api):
    tenant, client = api
    created = client.post("/api/v1/sites/", {"name": "blog", "title": "Crumbs Blog"}, format="json")
    assert created.status_code == 202, created.content
    body = created.json()
    assert body["status"] == "requested"
    assert (body["operation"]["kind"], body["operation"]["steps_total"]) == ("create", 8)
    assert body["url"].startswith("http://blog--acme.sites.localhost:")
    assert body["admin_url"].endswith("/wp-admin/")
    assert len(body["admin_password"]) >= 20

    operation = _finished(client, created)
    assert (operation["state"], operation["step"], operation["step_index"]) == ("succeeded", "hostname", 8)
    ready = client.get("/api/v1/sites/blog/").json()
    assert ready["status"] == "ready"
    assert ready["wordpress_version"] == files.wordpress_version()
    assert "admin_password" not in ready
    status, _, page = health.fetch("blog--acme.sites.localhost", "/")
    assert status == 200 and b"Crumbs Blog" in page

    events = client.get("/api/v1/sites/blog/events/").json()
    succeeded = [
        e["step"] for e in reversed(events) if e["outcome"] == "succeeded" and not e["step"].startswith("status")
    ]
    assert succeeded == [
        "request", "database", "files", "secrets", "pool", "server", "install", "health", "hostname",
    ]  # fmt: skip
    assert all(e["duration_ms"] is not None for e in events if e["step"] == "database")
    with tenant_context(tenant):
        # The admin password was shown once; WordPress keeps its own hash, we keep nothing.
        assert not SiteSecret.objects.filter(name="WP_ADMIN_PASSWORD").exists()
    assert [o["kind"] for o in client.get("/api/v1/sites/blog/operations/").json()] == ["create"]

    deleted = client.delete("/api/v1/sites/blog/")
    assert deleted.status_code == 202
    assert deleted.json()["status"] == "deleting"
    assert _finished(client, deleted)["state"] == "succeeded"
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


def test_reconciler_repairs_a_server_block_removed_by_hand(api, settings):
    tenant, client = api
    _create(client, "shop")
    with tenant_context(tenant):
        key = pipeline.site_spec(site=Site.objects.get(slug="shop"), tenant=tenant).key
    webserver.site_conf(key).unlink()
    webserver.server.nginx_reload()
    assert health.fetch("shop--acme.sites.localhost", "/")[0] == 404
    settings.SITES_DRIFT_CHECK_SECONDS = 0
    assert tasks.sites_reconcile()["checked"] == 1
    wait_until(lambda: health.fetch("shop--acme.sites.localhost", "/")[0] == 200, what="the repaired site")

    def server_repaired() -> bool:
        # The site answers (from its page cache, at once) a moment before the step's event is written.
        with tenant_context(tenant):
            return SiteEvent.objects.filter(site__slug="shop", outcome="repaired", step="server").exists()

    wait_until(server_repaired, what="the server step's repair in the timeline")


def test_suspend_and_resume_through_the_api(api):
    _, client = api
    _create(client, "news")
    suspended = client.post("/api/v1/sites/news/suspend/")
    assert suspended.status_code == 202
    assert _finished(client, suspended)["state"] == "succeeded"
    assert client.get("/api/v1/sites/news/").json()["status"] == "suspended"
    assert health.fetch("news--acme.sites.localhost", "/")[0] == 503
    assert client.post("/api/v1/sites/news/suspend/").status_code == 409
    resumed = client.post("/api/v1/sites/news/resume/")
    assert _finished(client, resumed)["state"] == "succeeded"
    assert client.get("/api/v1/sites/news/").json()["status"] == "ready"
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
    with pytest.raises(CommandError, match="No site “ghost” here"):
        call_command("site", "delete", "--tenant", "acme", "ghost")
    with pytest.raises(CommandError, match="cannot be resumed"):
        call_command("site", "resume", "--tenant", "acme", "cli-site")
    done = io.StringIO()
    call_command("site", "delete", "--tenant", "acme", "cli-site", stdout=done)
    assert "cli-site deleted." in done.getvalue()


def test_suspending_the_tenant_suspends_its_sites_and_resuming_restores_only_those(api):
    from tenants import services as tenant_services
    from tenants.audit import Actor

    tenant, client = api
    for name in ("one", "two"):
        _create(client, name)
    _finished(client, client.post("/api/v1/sites/two/suspend/"))  # paused by a member, before the tenant is
    tenant_services.tenant_suspend(actor=Actor.system("staff"), tenant=tenant, reason="unpaid")
    wait_until(lambda: health.fetch("one--acme.sites.localhost", "/")[0] == 503, what="one to be suspended")
    tenant_services.tenant_resume(actor=Actor.system("staff"), tenant=tenant)
    wait_until(lambda: health.fetch("one--acme.sites.localhost", "/")[0] == 200, what="one to be back")
    assert health.fetch("two--acme.sites.localhost", "/")[0] == 503  # the member's own pause stands

    def statuses():
        with tenant_context(tenant):
            return dict(Site.objects.values_list("slug", "status"))

    wait_until(lambda: statuses() == {"one": "ready", "two": "suspended"}, what="one ready and two suspended")


ENV_PROBE = (
    "<?php header('Content-Type: text/plain');"
    " echo getenv($_GET['name']) === false ? '<unset>' : getenv($_GET['name']);"
)


def test_env_vars_reach_the_running_site_and_sensitive_ones_stay_masked(api):
    tenant, client = api
    _create(client, "shop")
    with tenant_context(tenant):
        key = pipeline.site_spec(site=Site.objects.get(slug="shop"), tenant=tenant).key
    (files.docroot(key) / "env.php").write_text(ENV_PROBE)

    def seen(name):
        return health.fetch("shop--acme.sites.localhost", f"/env.php?name={name}")[2].decode()

    put = client.put(
        "/api/v1/sites/shop/env/STRIPE_SECRET/", {"value": "sk_live_123", "sensitive": True}, format="json"
    )
    assert put.status_code == 202, put.content
    assert put.json()["value"] == "••••••••"
    second = client.put("/api/v1/sites/shop/env/SHOP_CURRENCY/", {"value": "EUR"}, format="json")
    assert _finished(client, second)["state"] == "succeeded"
    assert seen("STRIPE_SECRET") == "sk_live_123"
    assert seen("SHOP_CURRENCY") == "EUR"
    listed = {v["name"]: v["value"] for v in client.get("/api/v1/sites/shop/env/").json()}
    assert listed == {"SHOP_CURRENCY": "EUR", "STRIPE_SECRET": "••••••••"}
    # A var linked to a tenant secret gets the secret's value, and a replaced secret reaches the site.
    assert client.put("/api/v1/secrets/shop-webhook/", {"value": "whsec_1"}, format="json").status_code == 201
    linked = client.put("/api/v1/sites/shop/env/WEBHOOK_SECRET/", {"from_secret": "shop-webhook"}, format="json")
    assert _finished(client, linked)["state"] == "succeeded"
    assert seen("WEBHOOK_SECRET") == "whsec_1"
    assert client.put("/api/v1/secrets/shop-webhook/", {"value": "whsec_2"}, format="json").status_code == 200
    replaced = client.get("/api/v1/sites/shop/operations/").json()[0]
    assert replaced["kind"] == "env"

    def applied():
        return client.get(replaced["url"]).json()["state"] == "succeeded"

    wait_until(applied, timeout=90, what="the secret's new value applied")
    assert seen("WEBHOOK_SECRET") == "whsec_2"
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

    removed = client.delete("/api/v1/sites/shop/env/SHOP_CURRENCY/")
    assert removed.status_code == 202
    assert _finished(client, removed)["state"] == "succeeded"
    assert seen("SHOP_CURRENCY") == "<unset>"
    assert client.delete("/api/v1/sites/shop/env/SHOP_CURRENCY/").status_code == 404


def test_patch_changes_title_and_scaling_on_the_running_site(api):
    from sites.runtimes.local import pool

    tenant, client = api
    _create(client, "cafe", "Old Name")
    changed = client.patch(
        "/api/v1/sites/cafe/", {"title": "New Name", "scaling": {"max_php_workers": 7}}, format="json"
    )
    assert changed.status_code == 202, changed.content
    assert changed.json()["operation"]["kind"] == "update"
    assert _finished(client, changed)["state"] == "succeeded"
    body = client.get("/api/v1/sites/cafe/").json()
    assert (body["title"], body["scaling"], body["status"]) == ("New Name", {"max_php_workers": 7}, "ready")
    assert b"New Name" in health.fetch("cafe--acme.sites.localhost", "/")[2]
    with tenant_context(tenant):
        key = pipeline.site_spec(site=Site.objects.get(slug="cafe"), tenant=tenant).key
    assert "pm.max_children = 7" in pool.pool_file(key).read_text()
    bad = client.patch("/api/v1/sites/cafe/", {"scaling": {"max_php_workers": 500}}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "scaling.max_php_workers"
    assert client.patch("/api/v1/sites/cafe/", {}, format="json").status_code == 400


def test_a_refused_pool_fails_its_step_with_a_message_not_a_500(api, monkeypatch):
    """php-fpm refusing a pool is the step's failure, told in the operation, never a server error."""
    from sites.runtimes.local import pool

    _, client = api
    _create(client, "shop")
    render = pool.render
    monkeypatch.setattr(pool, "render", lambda spec, ids: render(spec, ids) + "pm.max_children = banana\n")
    monkeypatch.setattr(pipeline, "STEP_RETRIES", 0)
    put = client.put("/api/v1/sites/shop/env/GREETING/", {"value": "hi"}, format="json")
    assert put.status_code == 202
    operation = _finished(client, put)
    assert operation["state"] == "failed"
    assert "The PHP pool was refused" in operation["error"]
    assert client.get("/api/v1/sites/shop/").json()["status"] == "ready"  # still serving, as before
    assert health.fetch("shop--acme.sites.localhost", "/")[0] == 200
