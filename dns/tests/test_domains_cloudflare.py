"""The cloud path of domains, with DNS_PROVIDER=cloudflare against the loopback fake of Cloudflare's
API: the pipeline publishes the site's platform name in the zone; a verified domain becomes a
Cloudflare for SaaS custom hostname whose origin is that name; its certificate is a status of its
own, polled until Cloudflare issues it (or fails it); removing the domain or the site removes the
custom hostname. The domain owner's records sit in the local DNS server, their registrar here."""

from collections.abc import Iterator

import pytest
from django_tenants.utils import tenant_context

from dns import services, tasks, zones
from dns.models import CustomDomain
from dns.tests.cloudflare_fake import FakeCloudflare
from sites import pipeline
from sites.models import Site
from sites.runtimes import memory
from sites.tests.factories import requested_site
from tenants.audit import Actor
from tenants.models import Role, Tenant

pytestmark = pytest.mark.django_db(transaction=True)

ZONE = "sites.example.com"
DOMAIN = "www.their-shop.test"
ORIGIN = f"shop--acme.{ZONE}"


@pytest.fixture
def cloud(settings, monkeypatch, make_tenant, dns_server) -> Iterator[tuple[Tenant, FakeCloudflare]]:
    with FakeCloudflare(zone_name=ZONE) as fake:
        settings.DRIVERS = {**settings.DRIVERS, "runtime": "memory", "dns": "cloudflare"}
        settings.CLOUDFLARE_BASE_URL = fake.base_url
        settings.CLOUDFLARE_API_TOKEN = fake.token
        settings.CLOUDFLARE_ZONE_ID = fake.zone_id
        settings.CLOUDFLARE_PROXIED = True
        settings.SITES_DOMAIN = ZONE
        memory.reset()
        monkeypatch.setattr(pipeline, "kick", lambda tenant, site_id, after=None: None)
        monkeypatch.setattr(services, "_kick", lambda domain_id: None)
        # The provider's clean-up runs here and now, as the worker would run the task.
        remove = tasks.domain_provider_remove
        monkeypatch.setattr(remove, "delay", lambda *args: remove.apply(args))
        tenant = make_tenant(slug="acme")
        site = requested_site(tenant, "shop")
        _advance(tenant, site.pk)
        yield tenant, fake
        assert fake.crashes == []
    memory.reset()


def _advance(tenant: Tenant, site_id: int) -> None:
    with tenant_context(tenant):
        pipeline.advance(tenant=tenant, site_id=site_id)


def _owner(tenant: Tenant) -> Actor:
    return Actor.of_user(tenant.memberships.get(role=Role.OWNER).user)


def _check() -> CustomDomain:
    checked = services.domain_check(domain_id=CustomDomain.objects.get(hostname=DOMAIN).pk)
    assert checked is not None
    return checked


def _verified_domain(tenant: Tenant) -> CustomDomain:
    domain = services.domain_add(tenant=tenant, actor=_owner(tenant), site="shop", domain=DOMAIN)
    zones.operator_record_set(name=f"_aipress-challenge.{DOMAIN}", type="TXT", content=domain.token)
    zones.operator_record_set(name=DOMAIN, type="CNAME", content=ORIGIN)
    return _check()


def test_the_pipeline_publishes_the_platform_name_on_cloudflare_and_removes_it_with_the_site(cloud):
    tenant, fake = cloud
    [record] = fake.records_at(ORIGIN)
    assert (record["type"], record["content"], record["proxied"]) == ("A", "192.0.2.10", True)
    auth = {request.headers.get("authorization") for request in fake.writes()}
    assert auth == {"Bearer <token>"}  # the fake's record of the token, never its value
    with tenant_context(tenant):
        site = Site.objects.get(slug="shop")
    from sites import services as site_services

    site_services.site_delete(tenant=tenant, actor=_owner(tenant), name="shop")
    _advance(tenant, site.pk)
    assert fake.records_at(ORIGIN) == []


def test_a_verified_domain_waits_for_its_certificate_then_is_active(cloud):
    tenant, fake = cloud
    domain = _verified_domain(tenant)
    assert (domain.status, domain.ownership, domain.dns, domain.certificate) == ("verified", "ok", "ok", "pending")
    hostname = fake.hostname(DOMAIN)
    assert hostname is not None and hostname["custom_origin_server"] == ORIGIN
    assert domain.provider_reference == hostname["id"]
    assert "waiting for the certificate" in domain.reason
    # Cloudflare's own validation records are part of what the owner is told to create.
    assert any(record["name"] == f"_cf-custom-hostname.{DOMAIN}" for record in domain.provider_records)
    with tenant_context(tenant):
        _advance(tenant, Site.objects.get(slug="shop").pk)  # the domains operation: routed
    assert _check().status == "verified"  # routed, but no certificate yet
    fake.set_ssl_status(DOMAIN, "active")
    active = _check()
    assert (active.status, active.certificate, active.reason) == ("active", "active", "")


def test_a_certificate_cloudflare_cannot_issue_fails_the_domain_with_cloudflares_words(cloud):
    tenant, fake = cloud
    _verified_domain(tenant)
    fake.set_ssl_status(DOMAIN, "validation_timed_out", errors=("TXT record not found",))
    failed = _check()
    assert (failed.status, failed.certificate) == ("failed", "failed")
    assert failed.reason.startswith("The certificate could not be issued:")
    assert "TXT record not found" in failed.reason
    with tenant_context(tenant):
        assert Site.objects.get(slug="shop").custom_hostnames == []  # no longer routed
    # "Check now" asks Cloudflare afresh instead of failing at once on what it said before.
    fake.set_ssl_status(DOMAIN, "pending_validation")
    again = services.domain_verify_request(tenant=tenant, actor=_owner(tenant), domain=DOMAIN)
    assert (again.status, again.certificate) == ("pending", "pending")
    assert _check().status == "verified"


def test_a_certificate_is_not_enough_while_cloudflare_has_not_activated_the_hostname(cloud):
    tenant, fake = cloud
    _verified_domain(tenant)
    with tenant_context(tenant):
        _advance(tenant, Site.objects.get(slug="shop").pk)
    fake.set_ssl_status(DOMAIN, "active", hostname_status="pending")
    waiting = _check()
    assert (waiting.status, waiting.certificate) == ("verified", "pending")
    assert "hostname pending" in waiting.reason
    assert any(record["name"] == f"_cf-custom-hostname.{DOMAIN}" for record in waiting.provider_records)


def test_removing_the_domain_removes_the_custom_hostname(cloud):
    tenant, fake = cloud
    _verified_domain(tenant)
    assert fake.hostname(DOMAIN) is not None
    services.domain_remove(tenant=tenant, actor=_owner(tenant), domain=DOMAIN)
    assert fake.hostname(DOMAIN) is None
    assert not CustomDomain.objects.exists()


def test_a_late_removal_leaves_alone_the_hostname_of_a_domain_added_again(cloud):
    tenant, fake = cloud
    first = _verified_domain(tenant)
    old_reference = first.provider_reference
    CustomDomain.objects.filter(pk=first.pk).delete()  # removed; its clean-up not run yet
    again = _verified_domain(tenant)
    assert again.provider_reference == old_reference  # Cloudflare's hostname adopted by the new row
    assert tasks.domain_provider_remove.apply((DOMAIN, old_reference)).result == f"{DOMAIN} is in use again: left alone"
    assert fake.hostname(DOMAIN) is not None


def test_a_bad_token_is_a_reason_the_owner_can_read_and_the_site_is_untouched(cloud, settings):
    tenant, _ = cloud
    settings.CLOUDFLARE_API_TOKEN = "not-the-token"
    domain = _verified_domain(tenant)
    assert domain.status == "verified" and domain.certificate == "pending"
    assert "CLOUDFLARE_API_TOKEN" in domain.certificate_detail and "not-the-token" not in domain.certificate_detail
    with tenant_context(tenant):
        assert Site.objects.get(slug="shop").status == "ready"
