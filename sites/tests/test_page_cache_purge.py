"""Purging the full-page cache on the local runtime, end to end: WordPress's own must-use plugin asks
the platform (through the site's nginx, with the site's purge token) when content changes, and
people ask through the API and the chat. A real worker provisions the sites; the platform's ASGI
application serves under uvicorn; nginx, php-fpm, MariaDB and WordPress are real. Attacks come from
a site's own PHP."""

import functools
import json
from collections.abc import Iterator
from typing import Any

import pytest
from django_tenants.utils import tenant_context

from chat import tools
from kernel.testing import wait_until
from sites import page_cache, pipeline
from sites.models import Site, SiteEvent
from sites.runtimes.local import webserver
from sites.runtimes.local.runtime import LocalRuntime
from sites.spec import SiteSpec
from sites.tests.conftest import put_php, run_php, tear_down
from sites.tests.page_cache_http import ask, xmlrpc
from tenants.audit import Actor
from tenants.models import ApiKeyScope, AuditEvent, Role, Tenant
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def world(
    make_tenant, client_for, api_key_for, site_daemons, celery_worker_thread, platform, settings
) -> Iterator[dict[str, Any]]:
    """Tenant acme with sites blog and shop, tenant initech with site news; the API as acme's owner."""
    settings.SITES_CACHE_PURGE_UPSTREAM = f"http://127.0.0.1:{settings.PLATFORM_PORT}"
    acme, initech = make_tenant(slug="acme"), make_tenant(slug="initech")
    made: list[tuple[Tenant, str]] = []
    passwords = {}
    for tenant, name in ((acme, "blog"), (acme, "shop"), (initech, "news")):
        client = client_for(tenant, key=api_key_for(tenant))
        created = client.post("/api/v1/sites/", {"name": name, "title": name.title()}, format="json")
        assert created.status_code == 202, created.content
        passwords[name] = created.json()["admin_password"]
        made.append((tenant, name))
    for tenant, name in made:
        with tenant_context(tenant):
            site_id = Site.objects.get(slug=name).pk
        wait_until(functools.partial(_ready, tenant, site_id), timeout=180, what=f"site {name} ready")
    yield {"acme": acme, "initech": initech, "passwords": passwords, "client": client_for(acme, key=api_key_for(acme))}
    for tenant, name in made:
        with tenant_context(tenant):
            tear_down(LocalRuntime(), pipeline.site_spec(site=Site.objects.get(slug=name), tenant=tenant))


def _ready(tenant: Tenant, site_id: int) -> bool:
    with tenant_context(tenant):
        return Site.objects.get(pk=site_id).status == "ready"


def _spec(tenant: Tenant, name: str) -> SiteSpec:
    with tenant_context(tenant):
        return pipeline.site_spec(site=Site.objects.get(slug=name), tenant=tenant, reveal=False)


def _owner(tenant: Tenant) -> Any:
    return tenant.memberships.get(role=Role.OWNER).user


def _cached(spec: SiteSpec, path: str = "/") -> bool:
    """Whether the page is in the cache now (asking for it puts it there if it was not)."""
    return ask(spec.hostname, path).cache == "HIT"


def _filled(spec: SiteSpec, *paths: str) -> None:
    for path in paths or ("/",):
        ask(spec.hostname, path)
        assert _cached(spec, path), path


def _publish(world: dict[str, Any], spec: SiteSpec, post: dict[str, str]) -> None:
    """A post through WordPress's XML-RPC API, as its admin (the way desktop and mobile apps publish)."""
    xmlrpc(spec.hostname, "wp.newPost", 1, spec.admin_email, world["passwords"][spec.slug], post)


def test_a_published_post_is_on_the_home_page_at_once(world):
    blog = _spec(world["acme"], "blog")
    _filled(blog, "/", "/?p=1")
    _publish(world, blog, {"post_title": "Fresh sourdough today", "post_content": "Hot.", "post_status": "publish"})
    # The plugin emptied the site's cache before the publishing request ended: no stale page.
    home = ask(blog.hostname, "/")
    assert (home.cache, "Fresh sourdough today" in home.text) == ("MISS", True)
    assert ask(blog.hostname, "/?p=1").cache == "MISS"
    with tenant_context(world["acme"]):
        event = SiteEvent.objects.filter(site__slug="blog", step="cache").latest("id")
    assert event.outcome == "succeeded"
    assert "emptied every page (post published) by the site blog itself" in event.detail
    audit = AuditEvent.objects.filter(action="site.cache.purge", target="blog").latest("id")
    assert (audit.tenant, audit.details["urls"], audit.details["reason"]) == (
        world["acme"],
        "every page",
        "post published",
    )
    # A draft changes nothing anyone sees: the cache stays.
    _filled(blog)
    _publish(world, blog, {"post_title": "Not yet", "post_status": "draft"})
    assert _cached(blog)
    # Nor did the other sites lose their pages.
    shop = _spec(world["acme"], "shop")
    _filled(shop)
    _publish(world, blog, {"post_title": "Second batch", "post_status": "publish"})
    assert _cached(shop) and not _cached(blog, "/?p=1")


def test_the_api_empties_every_page_or_some(world, client_for, api_key_for):
    acme, client = world["acme"], world["client"]
    blog = _spec(acme, "blog")
    _filled(blog, "/", "/?p=1")
    emptied = client.post("/api/v1/sites/blog/cache/purge")
    assert emptied.status_code == 200, emptied.content
    assert emptied.json()["everything"] is True
    assert (emptied.json()["edge"], emptied.json()["origin"].startswith("every cached page emptied")) == ("none", True)
    assert not _cached(blog, "/?p=1")

    _filled(blog, "/", "/?p=1")
    some = client.post("/api/v1/sites/blog/cache/purge", {"urls": ["/?p=1"], "reason": "fixed a typo"}, format="json")
    assert some.status_code == 200, some.content
    assert some.json()["urls"] == [f"http://{blog.hostname}/?p=1"]
    assert _cached(blog, "/") and not _cached(blog, "/?p=1")
    audit = AuditEvent.objects.filter(action="site.cache.purge", target="blog").latest("id")
    assert audit.details == {"urls": [f"http://{blog.hostname}/?p=1"], "reason": "fixed a typo"}
    assert audit.actor == _owner(acme)

    # Bad input: problem JSON naming the field, and nothing emptied.
    for urls in (["http://elsewhere.example/"], "/", [], ["//evil.example/x"], ["ftp://" + blog.hostname + "/"]):
        bad = client.post("/api/v1/sites/blog/cache/purge", {"urls": urls}, format="json")
        assert bad.status_code == 400, (urls, bad.content)
        assert bad["Content-Type"] == "application/problem+json"
        assert bad.json()["errors"][0]["field"] == "urls", bad.json()
    assert _cached(blog, "/")
    # Who may: a read key may not, nor a billing member; another tenant's site is not there.
    owner = _owner(acme)
    from tenants import services as tenant_services

    _, read_key = tenant_services.api_key_create(
        actor=Actor.of_user(owner), tenant=acme, name="r", scope=ApiKeyScope.READ
    )
    refused = client_for(acme, key=read_key).post("/api/v1/sites/blog/cache/purge")
    assert (refused.status_code, refused.json()["type"]) == (403, "https://aipress.dev/problems/read-only-key")
    billing = UserFactory.create()
    acme.memberships.create(user=billing, role=Role.BILLING)
    assert client_for(acme, user=billing).post("/api/v1/sites/blog/cache/purge").status_code == 403
    other = client_for(world["initech"], key=api_key_for(world["initech"]))
    assert other.post("/api/v1/sites/blog/cache/purge").status_code == 404
    assert _cached(blog, "/")


def test_the_chat_tool_empties_the_cache(world):
    acme = world["acme"]
    blog = _spec(acme, "blog")
    _filled(blog)
    tool = tools.REGISTRY["purge_cache"]
    answer, _ = tools.tool_call(tool, {"site": "blog"}, tenant=acme, actor=Actor.of_user(_owner(acme)), staff=False,
                                door="chat")  # fmt: skip
    assert answer["ok"] is True, answer
    assert answer["message"].startswith("Emptied the page cache of “blog”")
    assert ask(blog.hostname, "/").cache == "MISS"
    with tenant_context(acme):
        said = SiteEvent.objects.filter(site__slug="blog", step="cache").latest("id").detail
    assert f"by {_owner(acme).email}" in said
    # A member who may not change sites is told so, and nothing is emptied.
    _filled(blog)
    billing = UserFactory.create()
    acme.memberships.create(user=billing, role=Role.BILLING)
    refused, _ = tools.tool_call(
        tool, {"site": "blog"}, tenant=acme, actor=Actor.of_user(billing), staff=False, door="chat"
    )
    assert refused["ok"] is False and _cached(blog)


# From a site's own PHP: purge through any server block of this host, with any token it can find.
PURGE_PROBE = r"""<?php
header('Content-Type: application/json');
$answers = [];
$own_token = trim(file_get_contents($_SERVER['AIPRESS_CACHE_PURGE_TOKEN_FILE']));
foreach (json_decode($_GET['targets'], true) as $label => [$host, $token]) {
    $token = $token === 'own' ? $own_token : $token;
    $context = stream_context_create(['http' => [
        'method' => 'POST', 'ignore_errors' => true, 'timeout' => 10, 'content' => '{}',
        'header' => "Host: $host\r\nContent-Type: application/json\r\nX-AIPress-Purge-Token: $token\r\n",
    ]]);
    $url = 'http://127.0.0.1:' . $_SERVER['SERVER_PORT'] . '/_aipress/cache/purge';
    $body = @file_get_contents($url, false, $context);
    $answers[$label] = $body === false ? 'no answer' : explode(' ', $http_response_header[0])[1];
}
foreach (json_decode($_GET['files'], true) as $label => $file) {
    $answers[$label] = @file_get_contents($file) === false ? 'unreadable' : 'read';
}
$platform = @stream_socket_client('tcp://127.0.0.1:' . $_GET['platform_port'], $errno, $error, 3);
$answers['platform port'] = $platform ? 'connected' : "refused: $error";
echo json_encode($answers);
"""


def test_a_sites_php_cannot_empty_another_sites_cache(world, settings):
    acme, initech = world["acme"], world["initech"]
    blog, shop, news = _spec(acme, "blog"), _spec(acme, "shop"), _spec(initech, "news")
    _filled(shop)
    _filled(news)
    port = settings.SITES_PORT
    put_php(blog, "probe.php", PURGE_PROBE)
    shop_token = page_cache.purge_token(shop.tenant_id, shop.site_id)
    answers = run_php(
        blog,
        "probe.php",
        targets=json.dumps({
            "own site, own token": [f"{blog.hostname}:{port}", "own"],
            "same tenant's other site, own token": [f"{shop.hostname}:{port}", "own"],
            "another tenant's site, own token": [f"{news.hostname}:{port}", "own"],
            "other site, made-up token": [f"{shop.hostname}:{port}", "0" * 64],
            "other site, no token": [f"{shop.hostname}:{port}", ""],
            "another tenant's site, a third site's token": [f"{news.hostname}:{port}", shop_token],
        }),
        files=json.dumps({
            "other site's token file": str(webserver.token_file(shop.key)),
            "other site's cache": str(next(p for p in webserver.cache_dir(shop.key).rglob("*") if p.is_file())),
        }),
        platform_port=str(settings.PLATFORM_PORT),
    )  # fmt: skip
    assert answers.pop("own site, own token") == "200"  # the way in works, for the site itself
    assert answers.pop("platform port").startswith("refused")  # the control plane itself stays closed
    for label, answer in answers.items():
        assert answer in ("401", "403", "unreadable"), (label, answer)
    assert _cached(shop) and _cached(news)
    # The token opens nothing else of the API.
    client = world["client"]
    client.credentials(HTTP_X_AIPRESS_PURGE_TOKEN=page_cache.purge_token(blog.tenant_id, blog.site_id))
    assert client.get("/api/v1/sites/").status_code == 401
    assert client.post("/api/v1/sites/blog/suspend/").status_code in (401, 403)
    assert client.post("/api/v1/sites/shop/cache/purge").status_code == 403
    assert _cached(shop)


def test_the_portal_shows_the_cache_and_empties_it(world, client_for):
    acme = world["acme"]
    blog = _spec(acme, "blog")
    portal = client_for(acme, user=_owner(acme))
    page = portal.get("/sites/blog/").content.decode()
    # What the site's health check saw: the home page's second request came from the cache.
    assert "the home page came from the cache (<code>X-Cache: HIT</code>)" in page
    _filled(blog)
    emptied = portal.post("/sites/blog/purge-cache/", follow=True)
    assert "The page cache is empty" in emptied.content.decode()
    assert ask(blog.hostname, "/").cache == "MISS"
    assert "Last emptied 0" in emptied.content.decode()
    # A billing member sees it, without the button, and cannot empty it.
    billing = UserFactory.create()
    acme.memberships.create(user=billing, role=Role.BILLING)
    as_billing = client_for(acme, user=billing)
    assert "Empty the page cache" not in as_billing.get("/sites/blog/").content.decode()
    _filled(blog)
    refused = as_billing.post("/sites/blog/purge-cache/", follow=True).content.decode()
    assert "Your role can see sites but not change them." in refused and _cached(blog)
