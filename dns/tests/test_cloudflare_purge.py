"""The CDN side of the page cache: Cloudflare's purge_cache endpoint, as the loopback fake answers it
(what the real API refuses, it refuses), and the Cloudflare provider's purges through the official
SDK: by URL in batches Cloudflare takes, by hostname for every page of a site, never the whole zone
(which holds every tenant's sites)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from dns.providers.base import DnsError
from dns.providers.cloudflare import PURGE_FILES_PER_REQUEST, CloudflareProvider
from dns.tests.cloudflare_fake import FakeCloudflare

ZONE = "sites.example.com"
HOST = f"blog--acme.{ZONE}"
OTHER = f"shop--acme.{ZONE}"


@pytest.fixture
def fake(settings) -> Iterator[FakeCloudflare]:
    with FakeCloudflare(zone_name=ZONE, plan="free") as running:
        settings.CLOUDFLARE_BASE_URL = running.base_url
        settings.CLOUDFLARE_API_TOKEN = running.token
        settings.CLOUDFLARE_ZONE_ID = running.zone_id
        settings.SITES_DOMAIN = ZONE
        yield running
        assert running.crashes == []


def _purge(fake: FakeCloudflare, body: Any) -> httpx.Response:
    return httpx.post(
        f"{fake.base_url}/zones/{fake.zone_id}/purge_cache",
        json=body,
        headers={"Authorization": f"Bearer {fake.token}"},
    )


def _code(response: httpx.Response) -> int:
    return int(response.json()["errors"][0]["code"])


def test_the_fake_refuses_what_cloudflare_refuses(fake):
    urls = [f"https://{HOST}/post-{n}/" for n in range(31)]
    assert _purge(fake, {"files": urls[:30]}).status_code == 200
    too_many = _purge(fake, {"files": urls})
    assert (too_many.status_code, too_many.json()["success"]) == (400, False)
    assert "Only 30 files" in too_many.json()["errors"][0]["message"]
    assert _code(_purge(fake, {})) == 1012  # no target at all
    both = _purge(fake, {"files": urls[:1], "purge_everything": True})
    assert both.status_code == 400
    assert _code(_purge(fake, {"files": urls[0]})) == 1014  # not an array
    assert _purge(fake, {"purge_everything": "yes"}).status_code == 400
    outside = _purge(fake, {"files": ["https://elsewhere.example.org/"]})
    assert (outside.status_code, "not within the zone" in outside.text) == (400, True)
    assert _purge(fake, {"hosts": ["elsewhere.example.org"]}).status_code == 400
    assert _purge(fake, {"files": ["ftp://" + HOST + "/"]}).status_code == 400
    assert _purge(fake, {"hosts": [HOST]}).status_code == 200
    assert _purge(fake, {"purge_everything": True}).status_code == 200
    assert _purge(fake, {"hosts": [HOST], "flies": []}).status_code == 400  # a misspelt field shows
    # Only what it accepted is recorded.
    assert fake.purged == [{"files": urls[:30]}, {"hosts": [HOST]}, {"purge_everything": True}]


def test_the_fake_keeps_each_plans_limits(settings):
    with FakeCloudflare(zone_name=ZONE, plan="enterprise") as enterprise:
        urls = [f"https://{HOST}/{n}" for n in range(501)]
        assert _purge(enterprise, {"files": urls[:500]}).status_code == 200
        assert _purge(enterprise, {"files": urls}).status_code == 400
    with FakeCloudflare(zone_name=ZONE, plan="free") as free:
        # Five a minute, with a bucket of 25: the 26th at once is refused.
        answers = [_purge(free, {"hosts": [HOST]}).status_code for _ in range(26)]
        assert answers == [200] * 25 + [429]


def test_purge_by_url_goes_in_batches_over_both_schemes(fake):
    provider = CloudflareProvider()
    urls = [f"http://{HOST}:8080/post-{n}/?replytocom={n}" for n in range(20)]
    said = provider.edge_purge([HOST], urls)
    assert said == "40 URLs purged (HTTPS and HTTP)"
    batches = [request.body["files"] for request in fake.requests_to("POST", "/purge_cache$")]
    assert [len(batch) for batch in batches] == [PURGE_FILES_PER_REQUEST, 10]
    sent = [url for batch in batches for url in batch]
    # As visitors ask the edge: no origin port, each URL over HTTPS and HTTP.
    assert sent[:2] == [f"https://{HOST}/post-0/?replytocom=0", f"http://{HOST}/post-0/?replytocom=0"]
    assert len(set(sent)) == 40
    assert all(request.headers["authorization"] == "Bearer <token>" for request in fake.requests)
    # A URL on another name is no page of this site's: it is never sent.
    assert provider.edge_purge([HOST], [f"https://{OTHER}/"]) == "0 URLs purged (HTTPS and HTTP)"
    assert len(fake.purged) == 2


def test_every_page_of_a_site_is_purged_by_hostname_never_the_whole_zone(fake):
    provider = CloudflareProvider()
    fake.add_record(HOST, "A", "192.0.2.10", proxied=True)
    provider.custom_hostname_ensure("www.their-shop.test", HOST)
    said = provider.edge_purge([HOST, "www.their-shop.test"], [])
    assert said == f"every page of {HOST}, www.their-shop.test purged"
    assert fake.purged == [{"hosts": [HOST, "www.their-shop.test"]}]
    assert not any("purge_everything" in body for body in fake.purged)


def test_refusals_say_what_to_do(fake):
    provider = CloudflareProvider()
    fake.fail_next("POST", "/purge_cache$", 429, 1134, "Rate limit for purge requests exceeded", times=3)
    with pytest.raises(DnsError, match="limiting the rate"):
        provider.edge_purge([HOST], [])
    fake.read_only = True
    with pytest.raises(DnsError, match="Cache Purge"):
        provider.edge_purge([HOST], [])
    assert fake.purged == []
