"""The Cloudflare provider against a loopback fake of Cloudflare's v4 API, through the official SDK:
what ends up in the zone, which requests it took, and what people read when Cloudflare refuses."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import cloudflare
import httpx
import pytest

from dns.providers.base import Certificate, DnsError, DnsProvider, Record
from dns.providers.cloudflare import CloudflareProvider, _session
from dns.tests.cloudflare_fake import FakeCloudflare
from kernel.drivers import driver_class, protocol_mismatches
from sites.spec import Done, SiteSpec

ZONE = "sites.example.com"
HOST = f"blog--acme.{ZONE}"
DOMAIN = "shop.example.org"
WRONG_TOKEN = "W" * 40


@pytest.fixture
def fake(settings) -> Iterator[FakeCloudflare]:
    with FakeCloudflare(zone_name=ZONE) as running:
        settings.CLOUDFLARE_BASE_URL = running.base_url
        settings.CLOUDFLARE_API_TOKEN = running.token
        settings.CLOUDFLARE_ZONE_ID = running.zone_id
        settings.CLOUDFLARE_PROXIED = True
        settings.SITES_DOMAIN = ZONE
        yield running
        assert running.crashes == []


@pytest.fixture
def provider() -> CloudflareProvider:
    return CloudflareProvider()


def spec(runtime: str = "memory") -> SiteSpec:
    return SiteSpec(
        tenant_id=1, tenant_slug="acme", site_id=7, slug="blog", title="Blog", hostname=HOST,
        max_php_workers=2, admin_email="owner@example.org", runtime=runtime,
    )  # fmt: skip


def test_it_is_the_dns_driver_named_cloudflare():
    assert protocol_mismatches(CloudflareProvider, DnsProvider) == []
    assert driver_class("dns", "cloudflare") is CloudflareProvider


# Records


def test_record_set_creates_a_proxied_record_with_the_token(fake, provider, monkeypatch):
    # The SDK would prefer these to the token; the platform's token must be what authenticates.
    monkeypatch.setenv("CLOUDFLARE_API_KEY", "0" * 37)
    monkeypatch.setenv("CLOUDFLARE_EMAIL", "someone@example.org")

    assert provider.record_set(Record(HOST, "A", "192.0.2.10")) is True

    [stored] = fake.records_at(HOST)
    assert (stored["type"], stored["content"], stored["proxied"], stored["ttl"]) == ("A", "192.0.2.10", True, 1)
    [create] = fake.requests_to("POST", "/dns_records$")
    assert create.path == f"/client/v4/zones/{fake.zone_id}/dns_records"
    assert create.body == {"name": HOST, "type": "A", "content": "192.0.2.10", "ttl": 1, "proxied": True}
    listing = fake.requests_to("GET", "/dns_records$")[0]
    assert listing.query["name.exact"] == [HOST]
    assert all(r.headers["authorization"] == "Bearer <token>" for r in fake.requests)
    assert not any("x-auth-key" in r.headers or "x-auth-email" in r.headers for r in fake.requests)
    assert provider.records_at(HOST) == [Record(HOST, "A", "192.0.2.10", 300)]


def test_record_set_twice_makes_one_record_and_the_second_call_writes_nothing(fake, provider):
    provider.record_set(Record(HOST, "A", "192.0.2.10"))
    writes = len(fake.writes())

    assert provider.record_set(Record(HOST, "A", "192.0.2.10")) is False
    assert len(fake.writes()) == writes
    assert len(fake.records_at(HOST)) == 1


def test_new_content_updates_the_record_in_place(fake, provider):
    provider.record_set(Record(HOST, "A", "192.0.2.10"))
    [before] = fake.records_at(HOST)

    assert provider.record_set(Record(HOST, "A", "192.0.2.11")) is True
    [after] = fake.records_at(HOST)
    assert (after["id"], after["content"]) == (before["id"], "192.0.2.11")
    [update] = fake.requests_to("PUT", "/dns_records/")
    assert update.path.endswith(f"/dns_records/{before['id']}")
    assert len(fake.requests_to("POST", "/dns_records$")) == 1  # the first record_set's only


def test_txt_records_are_never_proxied_and_read_back_without_quotes(fake, provider):
    challenge = Record(f"_acme-challenge.{HOST}", "TXT", "token-value-1")
    assert provider.record_set(challenge) is True

    [create] = fake.requests_to("POST", "/dns_records$")
    assert create.body["proxied"] is False
    assert create.body["ttl"] == 300
    assert provider.records_at(challenge.name) == [challenge]  # Cloudflare answered it in quotes
    assert provider.record_set(challenge) is False


def test_the_proxied_setting_is_applied_to_existing_records(fake, provider, settings):
    settings.CLOUDFLARE_PROXIED = False
    provider.record_set(Record(HOST, "A", "192.0.2.10", ttl=600))
    [stored] = fake.records_at(HOST)
    assert (stored["proxied"], stored["ttl"]) == (False, 600)

    settings.CLOUDFLARE_PROXIED = True
    assert provider.record_set(Record(HOST, "A", "192.0.2.10", ttl=600)) is True
    [stored] = fake.records_at(HOST)
    assert (stored["proxied"], stored["ttl"]) == (True, 1)


def test_extra_records_made_in_the_dashboard_are_replaced(fake, provider):
    fake.add_record(HOST, "A", "198.51.100.1")
    fake.add_record(HOST, "A", "198.51.100.2")
    fake.add_record(f"other.{ZONE}", "A", "198.51.100.3")

    assert provider.record_set(Record(HOST, "A", "192.0.2.10")) is True
    assert [r["content"] for r in fake.records_at(HOST)] == ["192.0.2.10"]
    assert len(fake.requests_to("PUT")) == 1
    assert len(fake.requests_to("DELETE")) == 1
    assert len(fake.records_at(f"other.{ZONE}")) == 1


def test_an_identical_record_made_meanwhile_is_accepted(fake, provider):
    # Someone else creates the very record between the provider's listing and its create.
    fake.before_next("POST", "/dns_records$", lambda: fake.add_record(HOST, "A", "192.0.2.10", proxied=True))

    assert provider.record_set(Record(HOST, "A", "192.0.2.10")) is False
    assert len(fake.records_at(HOST)) == 1
    assert len(fake.requests_to("POST", "/dns_records$")) == 1  # refused with 81057, not retried


def test_a_conflicting_record_made_meanwhile_is_explained(fake, provider):
    fake.before_next("POST", "/dns_records$", lambda: fake.add_record(HOST, "CNAME", f"elsewhere.{ZONE}"))

    with pytest.raises(DnsError) as refused:
        provider.record_set(Record(HOST, "A", "192.0.2.10"))
    message = str(refused.value)
    assert "create the A record" in message
    assert "a record already exists at that name" in message
    assert "81054" in message
    assert "Cloudflare dashboard" in message


def test_records_delete_removes_one_type_or_all_and_counts(fake, provider):
    fake.add_record(HOST, "A", "192.0.2.10")
    fake.add_record(HOST, "TXT", "hello")
    fake.add_record(f"other.{ZONE}", "A", "192.0.2.10")

    assert provider.records_delete(HOST, "TXT") == 1
    assert [r["type"] for r in fake.records_at(HOST)] == ["A"]
    assert provider.records_delete(HOST, None) == 1
    assert fake.records_at(HOST) == []
    deletes = len(fake.requests_to("DELETE"))
    assert provider.records_delete(HOST, None) == 0
    assert len(fake.requests_to("DELETE")) == deletes
    assert len(fake.records_at(f"other.{ZONE}")) == 1


def test_every_page_of_records_is_read(fake, provider):
    for number in range(105):
        fake.add_record(HOST, "A", f"192.0.2.{number + 1}")

    assert len(provider.records_at(HOST)) == 105
    pages = [r.query.get("page", ["1"]) for r in fake.requests_to("GET", "/dns_records$")]
    assert pages == [["1"], ["2"]]  # the short second page ends the listing, without a third request


def test_names_outside_the_zone_are_refused_without_a_request(fake, provider):
    with pytest.raises(DnsError, match=r"outside the platform's zone sites\.example\.com"):
        provider.record_set(Record("www.example.org", "A", "192.0.2.10"))
    assert provider.records_at("www.example.org") == []
    assert provider.records_delete("www.example.org", None) == 0
    assert fake.requests == []


def test_the_sdk_default_address_is_used_when_no_base_url_is_set(settings, monkeypatch):
    # The SDK takes an empty CLOUDFLARE_BASE_URL from the environment as the address itself.
    monkeypatch.setenv("CLOUDFLARE_BASE_URL", "")
    settings.CLOUDFLARE_BASE_URL = ""
    settings.CLOUDFLARE_API_TOKEN = WRONG_TOKEN
    settings.CLOUDFLARE_ZONE_ID = "0" * 32

    client, zone = _session()
    assert (str(client.base_url), zone) == ("https://api.cloudflare.com/client/v4/", "0" * 32)
    assert (client.max_retries, client.timeout) == (2, 10.0)


# Refusals


def test_a_wrong_token_says_which_setting_to_fix_and_hides_the_token(fake, provider, settings):
    settings.CLOUDFLARE_API_TOKEN = WRONG_TOKEN

    with pytest.raises(DnsError) as refused:
        provider.record_set(Record(HOST, "A", "192.0.2.10"))
    message = str(refused.value)
    assert message.startswith("Cloudflare refused the API token")
    assert "9109 Invalid access token" in message
    assert "set CLOUDFLARE_API_TOKEN to a token with Zone DNS Edit and SSL and Certificates Edit" in message
    assert WRONG_TOKEN not in message
    assert fake.requests[0].headers["authorization"] == "Bearer <wrong token>"
    assert len(fake.requests) == 1  # a 403 is not retried


def test_a_malformed_token_is_refused_by_the_token_message(fake, provider, settings):
    settings.CLOUDFLARE_API_TOKEN = "not a token"

    with pytest.raises(DnsError, match=r"refused the API token.*6003 Invalid request headers; 6111"):
        provider.records_at(HOST)


def test_a_token_that_may_only_read_is_refused_on_writes(fake, provider):
    fake.read_only = True

    assert provider.records_at(HOST) == []
    with pytest.raises(DnsError, match=r"refused the API token when asked to create the A record .*10000"):
        provider.record_set(Record(HOST, "A", "192.0.2.10"))


def test_a_wrong_zone_id_says_to_check_it(fake, provider, settings):
    settings.CLOUDFLARE_ZONE_ID = "0" * 32

    with pytest.raises(DnsError, match=r"check CLOUDFLARE_ZONE_ID") as refused:
        provider.check()
    assert "1001 Invalid zone identifier" in str(refused.value)
    with pytest.raises(DnsError, match=r"check CLOUDFLARE_ZONE_ID"):
        provider.custom_hostname_get(DOMAIN, "3b4a6e3c-0000-4000-8000-000000000000")


@pytest.mark.parametrize("variable", ["CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ZONE_ID"])
def test_missing_settings_are_named_before_any_request(fake, provider, settings, variable):
    setattr(settings, variable, "")

    with pytest.raises(DnsError, match=f"^{variable} is not set: set it to"):
        provider.check()
    assert fake.requests == []


def test_check_names_the_zone(fake, provider, settings):
    assert provider.check() == f"Cloudflare zone {ZONE} (id {fake.zone_id}), active"

    settings.SITES_DOMAIN = "sites.example.net"
    with pytest.raises(DnsError, match=r"SITES_DOMAIN sites\.example\.net is not in the Cloudflare zone"):
        provider.check()


def test_rate_limiting_is_retried_then_explained(fake, provider):
    # Cloudflare's 429 carries its wait; the fake asks for 1 ms so that the SDK's retries stay fast.
    fake.fail_next("GET", "/dns_records$", 429, 971, "Please wait and consider throttling your request speed",
                   times=3, headers={"retry-after-ms": "1"})  # fmt: skip

    with pytest.raises(DnsError, match=r"limiting the rate of requests .* try again in a minute"):
        provider.records_at(HOST)
    assert len(fake.requests_to("GET", "/dns_records$")) == 3  # the request and the SDK's two retries

    fake.fail_next("GET", "/dns_records$", 429, 971, "Please wait", headers={"retry-after-ms": "1"})
    assert provider.records_at(HOST) == []


def test_an_unreachable_api_is_explained(fake, provider, settings):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.CLOUDFLARE_BASE_URL = f"http://127.0.0.1:{port}/client/v4"

    with pytest.raises(DnsError, match=r"^Cloudflare could not be reached to list the records at "):
        provider.records_at(HOST)


# Custom hostnames


def _origin(provider: CloudflareProvider) -> str:
    # Cloudflare wants a custom hostname's origin to be a record of the zone already.
    provider.record_set(Record(HOST, "A", "192.0.2.10"))
    return HOST


def test_custom_hostname_from_pending_to_active_to_removed(fake, provider):
    origin = _origin(provider)

    added = provider.custom_hostname_ensure(DOMAIN, origin)
    stored = fake.hostname(DOMAIN)
    assert stored is not None
    assert (added.hostname, added.reference, added.certificate) == (DOMAIN, stored["id"], Certificate.PENDING)
    assert "pending validation" in added.detail
    names = {record.name: record.content for record in added.records}
    assert names[f"_cf-custom-hostname.{DOMAIN}"] == stored["ownership_verification"]["value"]
    assert names[f"_acme-challenge.{DOMAIN}"] == stored["ssl"]["validation_records"][0]["txt_value"]
    [create] = fake.requests_to("POST", "/custom_hostnames$")
    assert create.body == {
        "hostname": DOMAIN,
        "custom_origin_server": HOST,
        "ssl": {"method": "txt", "type": "dv", "settings": {"min_tls_version": "1.2"}},
    }

    assert provider.custom_hostname_ensure(DOMAIN, origin).reference == added.reference
    assert len(fake.requests_to("POST", "/custom_hostnames$")) == 1

    fake.set_ssl_status(DOMAIN, "active")
    active = provider.custom_hostname_get(DOMAIN, added.reference)
    assert active is not None
    assert (active.certificate, active.records) == (Certificate.ACTIVE, ())
    found = provider.custom_hostname_get(DOMAIN, "")
    assert found is not None
    assert found.reference == added.reference

    provider.custom_hostname_remove(DOMAIN, added.reference)
    assert fake.hostnames == {}
    assert provider.custom_hostname_get(DOMAIN, added.reference) is None
    assert provider.custom_hostname_get(DOMAIN, "") is None


def test_removing_a_missing_custom_hostname_is_quiet(fake, provider):
    provider.custom_hostname_remove(DOMAIN, "3b4a6e3c-0000-4000-8000-000000000000")
    provider.custom_hostname_remove(DOMAIN, "")
    assert len(fake.requests_to("DELETE")) == 1  # without a reference there was nothing to delete


def test_a_failed_certificate_is_reported_with_cloudflare_words(fake, provider):
    added = provider.custom_hostname_ensure(DOMAIN, _origin(provider))
    fake.set_ssl_status(DOMAIN, "validation_timed_out", errors=("TXT record not found at _acme-challenge",))

    failed = provider.custom_hostname_get(DOMAIN, added.reference)
    assert failed is not None
    assert failed.certificate == Certificate.FAILED
    assert "certificate validation timed out" in failed.detail
    assert "TXT record not found at _acme-challenge" in failed.detail


def test_a_hostname_another_zone_has_is_refused_once(fake, provider):
    fake.elsewhere.add(DOMAIN)

    with pytest.raises(DnsError, match=r"already added to Cloudflare \(by this zone or another\).*1406"):
        provider.custom_hostname_ensure(DOMAIN, _origin(provider))
    assert len(fake.requests_to("POST", "/custom_hostnames$")) == 1  # a 409 here is final: no SDK retry


def test_a_new_origin_moves_the_custom_hostname(fake, provider):
    provider.custom_hostname_ensure(DOMAIN, _origin(provider))
    provider.record_set(Record(f"shop--acme.{ZONE}", "A", "192.0.2.20"))

    provider.custom_hostname_ensure(DOMAIN, f"shop--acme.{ZONE}")
    stored = fake.hostname(DOMAIN)
    assert stored is not None
    assert stored["custom_origin_server"] == f"shop--acme.{ZONE}"
    assert len(fake.requests_to("PATCH", "/custom_hostnames/")) == 1


def test_a_name_of_the_zone_is_no_custom_hostname(fake, provider):
    with pytest.raises(DnsError, match="needs no custom hostname"):
        provider.custom_hostname_ensure(f"x.{ZONE}", HOST)
    assert fake.requests == []


# The pipeline's hostname step


def test_the_hostname_step_ensures_reports_repairs_and_removes(fake, provider):
    site = spec()

    assert provider.ensure("hostname", site, None) == Done(f"{HOST} now A 192.0.2.10")
    assert provider.status("hostname", site) is True
    assert provider.ensure("hostname", site, None) == Done(f"{HOST} already A 192.0.2.10")

    fake.records.clear()  # deleted by hand in the dashboard
    assert provider.status("hostname", site) is False
    provider.ensure("hostname", site, None)
    assert [r["content"] for r in fake.records_at(HOST, "A")] == ["192.0.2.10"]

    assert provider.remove("hostname", site, None) is None
    assert fake.records_at(HOST) == []


def test_the_hostname_step_replaces_a_cname_left_by_another_runtime(fake, provider):
    fake.add_record(HOST, "CNAME", f"old-runtime.{ZONE}")

    provider.ensure("hostname", spec(), None)
    assert [(r["type"], r["content"]) for r in fake.records_at(HOST)] == [("A", "192.0.2.10")]


# The fake itself refuses what Cloudflare refuses


def _call(
    fake: FakeCloudflare, method: str, path: str, body: object = None, token: str | None = None
) -> httpx.Response:
    headers = {} if token == "" else {"Authorization": f"Bearer {token or fake.token}"}
    return httpx.request(method, f"{fake.base_url}{path}", json=body, headers=headers, timeout=5)


@pytest.mark.parametrize(
    ("body", "code", "chained"),
    [
        ({"name": HOST, "type": "A", "content": "192.0.2.300", "ttl": 1}, 1004, 9005),
        ({"name": HOST, "type": "AAAA", "content": "192.0.2.1", "ttl": 1}, 1004, 9006),
        ({"name": HOST, "type": "CNAME", "content": "not a host", "ttl": 1}, 1004, 9007),
        ({"name": HOST, "type": "A", "content": "192.0.2.1", "ttl": 30}, 1004, 9021),
        ({"name": HOST, "type": "TXT", "content": "x", "ttl": 1, "proxied": True}, 1004, 9004),
        ({"name": HOST, "type": "SPF", "content": "x", "ttl": 1}, 1004, 9020),
        ({"name": "www.example.org", "type": "A", "content": "192.0.2.1", "ttl": 1}, 1004, 9000),
        ({"name": HOST, "type": "A", "content": "192.0.2.1", "ttl": 1}, 81057, None),
        ({"name": HOST, "type": "CNAME", "content": f"x.{ZONE}", "ttl": 1}, 81053, None),
    ],
)
def test_the_fake_refuses_bad_records(fake, body, code, chained):
    fake.add_record(HOST, "A", "192.0.2.1")

    answer = _call(fake, "POST", f"/zones/{fake.zone_id}/dns_records", body)
    assert answer.status_code == 400
    error = answer.json()["errors"][0]
    assert answer.json()["success"] is False
    assert error["code"] == code
    assert [e["code"] for e in error.get("error_chain", [])] == ([chained] if chained else [])
    assert len(fake.records) == 1


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [("", 400, 9106), ("short", 400, 6003), (WRONG_TOKEN, 403, 9109)],
)
def test_the_fake_refuses_requests_without_the_token(fake, token, status, code):
    answer = _call(fake, "GET", f"/zones/{fake.zone_id}", token=token)
    assert (answer.status_code, answer.json()["errors"][0]["code"]) == (status, code)


def test_the_fake_refuses_unknown_routes_zones_and_hostname_requests(fake):
    assert _call(fake, "GET", "/zones/abc/dns_records").json()["errors"][0]["code"] == 7003
    assert _call(fake, "GET", f"/zones/{fake.zone_id}/firewall").status_code == 404
    assert _call(fake, "GET", f"/zones/{fake.zone_id}/dns_records?name.like=x").status_code == 400
    hostnames = f"/zones/{fake.zone_id}/custom_hostnames"
    bad_method = {"hostname": DOMAIN, "ssl": {"method": "dns", "type": "dv"}}
    assert _call(fake, "POST", hostnames, bad_method).status_code == 400
    no_origin = {"hostname": DOMAIN, "ssl": {"method": "txt", "type": "dv"}, "custom_origin_server": HOST}
    assert _call(fake, "POST", hostnames, no_origin).json()["errors"][0]["code"] == 1417
    inside = {"hostname": f"x.{ZONE}", "ssl": {"method": "txt", "type": "dv"}}
    assert _call(fake, "POST", hostnames, inside).status_code == 400
    assert fake.hostnames == {}


def test_the_fake_pages_lists(fake):
    for number in range(7):
        fake.add_record(f"r{number}.{ZONE}", "A", "192.0.2.1")

    answer = _call(fake, "GET", f"/zones/{fake.zone_id}/dns_records?per_page=5&page=2").json()
    assert len(answer["result"]) == 2
    assert answer["result_info"] == {"page": 2, "per_page": 5, "count": 2, "total_count": 7, "total_pages": 2}


def test_the_sdk_reads_every_answer_of_the_fake_strictly(fake):
    # With strict validation the SDK refuses any answer that does not match its models.
    sdk = cloudflare.Cloudflare(api_token=fake.token, base_url=fake.base_url, _strict_response_validation=True)
    zone = fake.zone_id
    assert sdk.zones.get(zone_id=zone) is not None
    made = sdk.dns.records.create(zone_id=zone, name=HOST, type="A", content="192.0.2.1", ttl=1, proxied=True)
    sdk.dns.records.create(zone_id=zone, name=f"t.{ZONE}", type="TXT", content="v", ttl=120)
    assert made is not None
    assert sdk.dns.records.get(made.id, zone_id=zone) is not None
    assert len(list(sdk.dns.records.list(zone_id=zone, name={"exact": HOST}))) == 1
    host = sdk.custom_hostnames.create(zone_id=zone, hostname=DOMAIN, custom_origin_server=HOST,
                                       ssl={"method": "txt", "type": "dv"})  # fmt: skip
    assert host is not None
    assert sdk.custom_hostnames.get(host.id, zone_id=zone) is not None
    assert [h.id for h in sdk.custom_hostnames.list(zone_id=zone, hostname={"exact": DOMAIN})] == [host.id]
    assert sdk.custom_hostnames.delete(host.id, zone_id=zone).id == host.id
    sdk.close()
