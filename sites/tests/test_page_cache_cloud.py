"""The page cache in front of cloud sites: the CDN (Cloudflare, through the DNS provider, against the
loopback fake of its API) is emptied by a task after the API, the chat or the site's plugin asks;
Cloud Run services carry what the plugin needs. A real worker runs the task."""

from collections.abc import Iterator
from typing import Any

import pytest
from django_tenants.utils import tenant_context
from google.cloud import run_v2

from dns.tests.cloudflare_fake import FakeCloudflare
from kernel.testing import wait_until
from sites import page_cache, pipeline
from sites.models import Site, SiteEvent
from sites.runtimes import memory
from sites.runtimes.cloudrun import service
from sites.runtimes.cloudrun.runtime import CloudRunRuntime
from sites.tests.factories import requested_site
from tenants.models import Tenant

pytestmark = pytest.mark.django_db(transaction=True)

ZONE = "sites.example.com"


@pytest.fixture
def cloud(settings, monkeypatch, make_tenant, celery_worker_thread) -> Iterator[tuple[Tenant, FakeCloudflare]]:
    with FakeCloudflare(zone_name=ZONE, plan="free") as fake:
        settings.DRIVERS = {**settings.DRIVERS, "runtime": "memory", "dns": "cloudflare"}
        settings.CLOUDFLARE_BASE_URL = fake.base_url
        settings.CLOUDFLARE_API_TOKEN = fake.token
        settings.CLOUDFLARE_ZONE_ID = fake.zone_id
        settings.SITES_DOMAIN = ZONE
        memory.reset()
        # The pipeline runs here and now (its worker's part is not what these tests are about).
        monkeypatch.setattr(pipeline, "kick", lambda tenant, site_id, after=None: None)
        tenant = make_tenant(slug="acme")
        site = requested_site(tenant, "blog")
        with tenant_context(tenant):
            pipeline.advance(tenant=tenant, site_id=site.pk)
        yield tenant, fake
        assert fake.crashes == []
    memory.reset()


def _cache_events(tenant: Tenant) -> list[Any]:
    with tenant_context(tenant):
        return list(SiteEvent.objects.filter(site__slug="blog", step="cache").order_by("id"))


def test_the_api_empties_the_cdn_by_hostname_then_by_url(cloud, client_for, api_key_for):
    tenant, fake = cloud
    client = client_for(tenant, key=api_key_for(tenant))
    host = f"blog--acme.{ZONE}"
    accepted = client.post("/api/v1/sites/blog/cache/purge")
    assert accepted.status_code == 202, accepted.content
    assert (accepted.json()["edge"], accepted.json()["everything"]) == ("queued", True)
    wait_until(lambda: fake.purged, what="the CDN's purge")
    assert fake.purged == [{"hosts": [host]}]
    done = wait_until(lambda: [e for e in _cache_events(tenant) if e.detail.startswith("the CDN")], what="its event")
    assert (done[0].outcome, done[0].detail) == ("succeeded", f"the CDN: every page of {host} purged")

    some = client.post("/api/v1/sites/blog/cache/purge", {"urls": ["/about/", f"https://{host}/?p=3"]}, format="json")
    assert some.status_code == 202, some.content
    wait_until(lambda: len(fake.purged) == 2, what="the CDN's second purge")
    assert sorted(fake.purged[1]["files"]) == sorted(
        [f"https://{host}/about/", f"http://{host}/about/", f"https://{host}/?p=3", f"http://{host}/?p=3"]
    )


def test_the_sites_plugin_asks_with_its_token_and_a_refused_purge_is_tried_again(cloud, client, monkeypatch):
    tenant, fake = cloud
    with tenant_context(tenant):
        site = Site.objects.get(slug="blog")
    token = page_cache.purge_token(tenant.pk, site.pk)
    client.defaults["HTTP_HOST"] = tenant.host
    # Cloudflare refuses the first time (its rate): the task asks again later, and then it is done.
    fake.fail_next("POST", "/purge_cache$", 429, 1134, "Rate limit for purge requests exceeded", times=3)
    from sites import tasks

    monkeypatch.setattr(tasks, "EDGE_PURGE_FIRST_WAIT_SECONDS", 0)
    answered = client.post(
        "/api/v1/sites/blog/cache/purge",
        {"reason": "post published"},
        content_type="application/json",
        HTTP_X_AIPRESS_PURGE_TOKEN=token,
    )
    assert answered.status_code == 202, answered.content
    wait_until(lambda: fake.purged, timeout=60, what="the purge asked again")
    assert len(fake.requests_to("POST", "/purge_cache$")) == 4  # 3 refused (the SDK's own retries), then done
    assert "emptied every page (post published) by the site blog itself" in _cache_events(tenant)[0].detail
    # Another site's token, or none that is right, opens nothing.
    wrong = client.post("/api/v1/sites/blog/cache/purge", HTTP_X_AIPRESS_PURGE_TOKEN=token[::-1])
    assert wrong.status_code == 403
    assert len(fake.purged) == 1


def test_cloud_run_services_carry_what_the_plugin_needs(cloud, settings, monkeypatch):
    tenant, _ = cloud
    # The site's secrets are the local store's here: stand-ins for their Secret Manager references.
    monkeypatch.setattr(service, "_secret_env", lambda name, spec: run_v2.EnvVar(name=name, value="<reference>"))
    settings.GOOGLE_CLOUD_PROJECT, settings.SITES_CLOUDRUN_REGION = "aipress-test", "europe-west1"
    settings.SITES_CLOUDSQL_INSTANCE, settings.SITES_CLOUDSQL_ADMIN_URL = "sql", "mysql://a:b@127.0.0.1:3306/"
    settings.SITES_IMAGE = "europe-west1-docker.pkg.dev/aipress-test/sites/wordpress:test"
    settings.PLATFORM_SCHEME, settings.PLATFORM_DOMAIN, settings.PLATFORM_PORT = "https", "aipress.example.com", ""
    with tenant_context(tenant):
        spec = pipeline.site_spec(site=Site.objects.get(slug="blog"), tenant=tenant, reveal=False)
    built = service.desired(spec, admin_password=False)
    env = {var.name: var.value for var in built.template.containers[0].env if var.value}
    assert env["AIPRESS_PAGE_CACHE_SECONDS"] == "600"
    assert env["AIPRESS_CACHE_PURGE_URL"] == "https://acme.aipress.example.com/api/v1/sites/blog/cache/purge"
    assert page_cache.purge_token_valid(spec.tenant_id, spec.site_id, env["AIPRESS_CACHE_PURGE_TOKEN"])
    assert not page_cache.purge_token_valid(spec.tenant_id, spec.site_id + 1, env["AIPRESS_CACHE_PURGE_TOKEN"])
    # The instances keep no page: there is nothing to empty at the origin.
    assert CloudRunRuntime().cache_purge(spec, ()) == "no page is kept by the Cloud Run service itself"
