"""A tenant's own domains, through the API and the services, checked against real DNS (the local
authoritative server, where each test creates records as a domain's owner would at a registrar).
Sites run on the in-memory runtime here: what is tested is the domain's life, its every failure
reason, and that nothing leaks between tenants. The full flow on real nginx is test_domain_flow."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_tenants.utils import tenant_context

from dns import services, zones
from dns.models import CustomDomain, ZoneRecord
from sites import pipeline
from sites.models import OperationKind, Site, SiteOperation
from sites.runtimes import memory
from sites.tests.factories import requested_site
from tenants.models import Role, Tenant

pytestmark = pytest.mark.django_db(transaction=True)

DOMAIN = "www.their-shop.test"


@pytest.fixture
def world(settings, monkeypatch, make_tenant, dns_server):
    """Tenant acme with a ready site `shop` on the in-memory runtime; workers are the test itself."""
    settings.DRIVERS = {**settings.DRIVERS, "runtime": "memory"}
    memory.reset()
    kicked: list[int] = []
    monkeypatch.setattr(pipeline, "kick", lambda tenant, site_id, after=None: None)
    monkeypatch.setattr(services, "_kick", kicked.append)
    tenant = make_tenant(slug="acme")
    site = requested_site(tenant, "shop")
    _advance(tenant, site.pk)
    yield tenant, kicked
    memory.reset()


def _advance(tenant: Tenant, site_id: int) -> None:
    with tenant_context(tenant):
        pipeline.advance(tenant=tenant, site_id=site_id)


def _api(client_for, tenant, role=Role.ADMIN, add_member=None):
    owner = tenant.memberships.get(role=Role.OWNER).user
    user = owner if role == Role.OWNER else add_member(tenant, role)
    return client_for(tenant, user=user)


def _check(hostname: str = DOMAIN) -> CustomDomain:
    domain = CustomDomain.objects.get(hostname=hostname)
    checked = services.domain_check(domain_id=domain.pk)
    assert checked is not None
    return checked


def _publish(token: str, target: str = "shop--acme.sites.localhost", hostname: str = DOMAIN) -> None:
    """What the domain's owner does at their registrar."""
    zones.operator_record_set(name=f"_aipress-challenge.{hostname}", type="TXT", content=token)
    zones.operator_record_set(name=hostname, type="CNAME", content=target)


def _site(tenant: Tenant, name: str = "shop") -> Site:
    with tenant_context(tenant):
        return Site.objects.get(slug=name)


def test_the_platform_hostname_is_published_by_the_pipeline(world):
    assert list(ZoneRecord.objects.values_list("name", "type", "content")) == [
        ("shop--acme.sites.localhost", "A", "192.0.2.10")
    ]


def test_adding_answers_with_the_records_to_create_and_a_check_is_queued(world, client_for):
    tenant, kicked = world
    client = client_for(tenant, user=tenant.memberships.get(role=Role.OWNER).user)
    response = client.post("/api/v1/sites/shop/domains/", {"domain": "WWW.Their-Shop.test."}, format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["domain"], body["status"], body["site"]) == (DOMAIN, "pending", "shop")
    token = CustomDomain.objects.get(hostname=DOMAIN).token
    assert {(r["type"], r["name"], r["value"]) for r in body["records"]} == {
        ("TXT", f"_aipress-challenge.{DOMAIN}", token),
        ("CNAME", DOMAIN, "shop--acme.sites.localhost"),
    }
    assert body["ownership"]["status"] == body["dns"]["status"] == "pending"
    assert kicked == [CustomDomain.objects.get(hostname=DOMAIN).pk]
    listed = client.get("/api/v1/sites/shop/domains/").json()
    assert [d["domain"] for d in listed] == [DOMAIN]


def test_an_apex_is_told_to_use_addresses_not_a_cname(world, client_for, settings):
    tenant, _ = world
    settings.SITES_PUBLIC_IPV6 = "2001:db8::10"
    client = client_for(tenant, user=tenant.memberships.get(role=Role.OWNER).user)
    body = client.post("/api/v1/sites/shop/domains/", {"domain": "their-shop.test"}, format="json").json()
    kinds = {(r["type"], r["value"]) for r in body["records"] if r["type"] != "TXT"}
    assert kinds == {("A", settings.SITES_PUBLIC_IPV4), ("AAAA", "2001:db8::10")}


def test_a_domain_moves_from_pending_to_verified_to_active_once_routed(world):
    tenant, kicked = world
    domain = services.domain_add(tenant=tenant, actor=_owner_actor(tenant), site="shop", domain=DOMAIN)
    checked = _check()
    assert (checked.status, checked.ownership, checked.dns) == ("pending", "failed", "failed")
    assert "No TXT record at _aipress-challenge.www.their-shop.test" in checked.reason
    _publish(domain.token)
    checked = _check()
    assert (checked.status, checked.ownership, checked.dns, checked.certificate) == (
        "verified", "ok", "ok", "not_needed",
    )  # fmt: skip
    # The site is asked to answer on it: a domains operation, with the name in its spec.
    site = _site(tenant)
    assert site.custom_hostnames == [DOMAIN]
    with tenant_context(tenant):
        assert SiteOperation.objects.filter(site=site, kind=OperationKind.DOMAINS, state="queued").exists()
    kicked.clear()
    _advance(tenant, site.pk)
    assert kicked == [domain.pk]  # the finished operation asks for a check at once
    checked = _check()
    assert checked.status == "active" and checked.activated_at is not None and checked.reason == ""
    with tenant_context(tenant):
        assert pipeline.site_spec(site=_site(tenant), tenant=tenant).hostnames == ("shop--acme.sites.localhost", DOMAIN)


def test_a_site_that_could_not_take_the_domain_says_so_and_check_now_tries_again(world):
    tenant, _ = world
    domain = services.domain_add(tenant=tenant, actor=_owner_actor(tenant), site="shop", domain=DOMAIN)
    _publish(domain.token)
    assert _check().status == "verified"
    site = _site(tenant)
    with tenant_context(tenant):
        SiteOperation.objects.filter(site=site, kind=OperationKind.DOMAINS).update(
            state="failed", error="server: nginx refused the server block"
        )
    stuck = _check()
    assert stuck.status == "verified"
    assert "could not be set up to answer on it (server: nginx refused" in stuck.reason
    services.domain_verify_request(tenant=tenant, actor=_owner_actor(tenant), domain=DOMAIN)
    with tenant_context(tenant):
        assert SiteOperation.objects.filter(site=site, kind=OperationKind.DOMAINS, state="queued").exists()
    _advance(tenant, site.pk)
    assert _check().status == "active"


def test_a_domain_of_a_failed_site_is_not_called_active(world):
    tenant, _ = world
    domain = services.domain_add(tenant=tenant, actor=_owner_actor(tenant), site="shop", domain=DOMAIN)
    with tenant_context(tenant):
        Site.objects.filter(slug="shop").update(status="failed")
    _publish(domain.token)
    checked = _check()
    assert checked.status == "verified" and "The site is failed" in checked.reason
    assert _site(tenant).custom_hostnames == [DOMAIN]  # applied when the site is retried


@pytest.mark.parametrize(
    ("records", "ownership", "dns", "reason"),
    [
        ({}, "failed", "failed", "does not exist in DNS yet: create a CNAME record to shop--acme.sites.localhost"),
        ({"TXT": "someone-elses-token"}, "failed", "failed", "not this domain's token"),
        ({"TXT": "{token}", "CNAME": "elsewhere.example.test"}, "ok", "failed", "is a CNAME to elsewhere.example.test"),
        ({"TXT": "{token}", "A": "198.51.100.7"}, "ok", "failed", "points to 198.51.100.7 (A), not to 192.0.2.10"),
        ({"CNAME": "shop--acme.sites.localhost"}, "failed", "ok", "No TXT record at _aipress-challenge"),
    ],
)
def test_each_failure_reason_says_what_to_fix_and_never_touches_the_site(world, records, ownership, dns, reason):
    tenant, _ = world
    domain = services.domain_add(tenant=tenant, actor=_owner_actor(tenant), site="shop", domain=DOMAIN)
    for kind, value in records.items():
        name = f"_aipress-challenge.{DOMAIN}" if kind == "TXT" else DOMAIN
        zones.operator_record_set(name=name, type=kind, content=value.format(token=domain.token))
    checked = _check()
    assert (checked.status, checked.ownership, checked.dns) == ("pending", ownership, dns)
    assert reason in checked.reason
    assert _site(tenant).custom_hostnames == []
    assert checked.next_check_at > timezone.now()


def test_unanswering_resolvers_are_a_reason_of_their_own(world, settings):
    tenant, _ = world
    services.domain_add(tenant=tenant, actor=_owner_actor(tenant), site="shop", domain=DOMAIN)
    settings.DNS_RESOLVERS = ["127.0.0.1:9"]
    settings.DNS_QUERY_TIMEOUT_SECONDS = 0.2
    checked = _check()
    assert checked.status == "pending" and "No DNS resolver answered (127.0.0.1:9" in checked.reason


def test_checks_back_off_and_a_domain_not_verified_in_time_fails_until_checked_again(world):
    tenant, kicked = world
    domain = services.domain_add(tenant=tenant, actor=_owner_actor(tenant), site="shop", domain=DOMAIN)
    waits = []
    for _ in range(3):
        before = timezone.now()
        waits.append((_check().next_check_at - before).total_seconds())
    assert waits[0] < waits[1] < waits[2]
    CustomDomain.objects.filter(pk=domain.pk).update(pending_since=timezone.now() - timedelta(hours=73))
    failed = _check()
    assert failed.status == "failed" and failed.next_check_at is None
    assert failed.reason.startswith("Not verified within 72 hours: ")
    assert "check now" in failed.reason
    # "Check now" starts it again, and with the records in place it is verified.
    again = services.domain_verify_request(tenant=tenant, actor=_owner_actor(tenant), domain=DOMAIN)
    assert again.status == "pending" and kicked[-1] == domain.pk
    _publish(domain.token)
    assert _check().status == "verified"


def test_bad_domains_are_refused_with_what_to_fix_and_nothing_is_kept(world, client_for):
    tenant, _ = world
    client = client_for(tenant, user=tenant.memberships.get(role=Role.OWNER).user)
    cases = {
        "": "Give a domain",
        "https://www.shop.test/": "no http://",
        "shop": "not a valid domain",
        "-bad-.shop.test": "not a valid domain",
        "a..b.test": "not a valid domain",
        "127.0.0.1": "not an IP address",
        "*.shop.test": "Wildcard",
        "www.shop.test:8080": "without a port",
        "www.shop.123": "not a valid domain",
        "x" * 64 + ".shop.test": "not a valid domain",
        "blog--acme.sites.localhost": "platform's own zone",
        "aipress.localhost": "platform's own zone",
        "shop.test; rm -rf /": "no path",
        "shop.test; rm -rf x": "not a valid domain",
        "shop.test\nserver_name evil": "not a valid domain",
    }
    for given, message in cases.items():
        response = client.post("/api/v1/sites/shop/domains/", {"domain": given}, format="json")
        assert response.status_code == 400, (given, response.content)
        body = response.json()
        assert body["status"] == 400
        assert message in str(body), (given, body)
    assert not CustomDomain.objects.exists()
    missing_site = client.post("/api/v1/sites/nope/domains/", {"domain": DOMAIN}, format="json")
    assert missing_site.status_code == 404


def test_a_domain_belongs_to_one_site_on_the_whole_platform(world, client_for, make_tenant):
    tenant, _ = world
    rival = make_tenant(slug="rival")
    requested_site(rival, "shop")
    services.domain_add(tenant=tenant, actor=_owner_actor(tenant), site="shop", domain=DOMAIN)
    again = client_for(tenant, user=tenant.memberships.get(role=Role.OWNER).user).post(
        "/api/v1/sites/shop/domains/", {"domain": DOMAIN}, format="json"
    )
    assert again.status_code == 409 and "already added to this site" in again.json()["detail"]
    taken = client_for(rival, user=rival.memberships.get(role=Role.OWNER).user).post(
        "/api/v1/sites/shop/domains/", {"domain": DOMAIN}, format="json"
    )
    assert taken.status_code == 409
    assert "taken" in taken.json()["detail"] and "acme" not in taken.content.decode()
    # Pressing "check now" again and again does not renew a claim: it lapses by when it was made.
    CustomDomain.objects.filter(hostname=DOMAIN).update(status="failed", pending_since=timezone.now())
    services.domain_verify_request(tenant=tenant, actor=_owner_actor(tenant), domain=DOMAIN)
    assert (
        client_for(rival, user=rival.memberships.get(role=Role.OWNER).user)
        .post("/api/v1/sites/shop/domains/", {"domain": DOMAIN}, format="json")
        .status_code
        == 409
    )
    # A claim never proven within the give-up time lapses: then whoever proves it may take it.
    CustomDomain.objects.filter(hostname=DOMAIN).update(created_at=timezone.now() - timedelta(hours=73))
    claimed = services.domain_add(tenant=rival, actor=_owner_actor(rival), site="shop", domain=DOMAIN)
    assert CustomDomain.objects.get(hostname=DOMAIN).tenant == rival and claimed.status == "pending"


def test_another_tenant_sees_and_removes_nothing_of_ours(world, client_for, make_tenant):
    tenant, _ = world
    services.domain_add(tenant=tenant, actor=_owner_actor(tenant), site="shop", domain=DOMAIN)
    rival = make_tenant(slug="rival")
    requested_site(rival, "shop")
    client = client_for(rival, user=rival.memberships.get(role=Role.OWNER).user)
    assert client.get(f"/api/v1/sites/shop/domains/{DOMAIN}/").status_code == 404
    assert client.get("/api/v1/sites/shop/domains/").json() == []
    assert client.delete(f"/api/v1/sites/shop/domains/{DOMAIN}/").status_code == 404
    assert client.post(f"/api/v1/sites/shop/domains/{DOMAIN}/verify/").status_code == 404
    assert CustomDomain.objects.get(hostname=DOMAIN).tenant == tenant


def test_a_billing_member_reads_domains_but_cannot_change_them(world, client_for, add_member):
    tenant, _ = world
    services.domain_add(tenant=tenant, actor=_owner_actor(tenant), site="shop", domain=DOMAIN)
    client = client_for(tenant, user=add_member(tenant, Role.BILLING))
    assert client.get(f"/api/v1/sites/shop/domains/{DOMAIN}/").status_code == 200
    assert client.post("/api/v1/sites/shop/domains/", {"domain": "b.their-shop.test"}, format="json").status_code == 403
    assert client.delete(f"/api/v1/sites/shop/domains/{DOMAIN}/").status_code == 403
    assert client.post(f"/api/v1/sites/shop/domains/{DOMAIN}/verify/").status_code == 403
    assert CustomDomain.objects.count() == 1


def test_removing_a_domain_takes_it_out_of_the_site_and_deleting_the_site_drops_its_domains(world, client_for):
    tenant, _ = world
    client = client_for(tenant, user=tenant.memberships.get(role=Role.OWNER).user)
    domain = services.domain_add(tenant=tenant, actor=_owner_actor(tenant), site="shop", domain=DOMAIN)
    other = services.domain_add(tenant=tenant, actor=_owner_actor(tenant), site="shop", domain="b.their-shop.test")
    for added in (domain, other):
        _publish(added.token, hostname=added.hostname)
        _check(added.hostname)
    site = _site(tenant)
    assert site.custom_hostnames == ["b.their-shop.test", DOMAIN]
    assert client.delete(f"/api/v1/sites/shop/domains/{DOMAIN}/").status_code == 204
    assert _site(tenant).custom_hostnames == ["b.their-shop.test"]
    assert not CustomDomain.objects.filter(hostname=DOMAIN).exists()
    assert client.delete("/api/v1/sites/shop/").status_code == 202
    _advance(tenant, site.pk)
    assert not CustomDomain.objects.exists()
    assert not ZoneRecord.objects.filter(name="shop--acme.sites.localhost").exists()


def test_a_domain_removed_while_it_is_being_checked_stays_removed(world, monkeypatch):
    from dns import verification

    tenant, _ = world
    domain = services.domain_add(tenant=tenant, actor=_owner_actor(tenant), site="shop", domain=DOMAIN)
    _publish(domain.token)
    real_check = verification.check

    def removed_meanwhile(*args, **kwargs):
        found = real_check(*args, **kwargs)
        services.domain_remove(tenant=tenant, actor=_owner_actor(tenant), domain=DOMAIN)
        return found

    monkeypatch.setattr(verification, "check", removed_meanwhile)
    assert services.domain_check(domain_id=domain.pk) is None
    assert not CustomDomain.objects.exists()
    assert _site(tenant).custom_hostnames == []


def test_an_active_domain_whose_records_point_elsewhere_is_taken_out_of_the_site(world):
    """The domain may have changed hands: its new holder must not get WordPress to answer on it."""
    tenant, _ = world
    domain = services.domain_add(tenant=tenant, actor=_owner_actor(tenant), site="shop", domain=DOMAIN)
    _publish(domain.token)
    _check()
    _advance(tenant, _site(tenant).pk)
    assert _check().status == "active"
    zones.operator_records_delete(name=f"_aipress-challenge.{DOMAIN}")  # owners tidy this up: harmless
    assert _check().status == "active"
    zones.operator_record_set(name=DOMAIN, type="A", content="198.51.100.7")
    moved = _check()
    assert moved.status == "pending" and moved.reason.startswith("Its records no longer send visitors here")
    assert _site(tenant).custom_hostnames == []
    _publish(domain.token)  # back: verified and routed again
    assert _check().status == "verified" and _site(tenant).custom_hostnames == [DOMAIN]


def test_the_reconciler_puts_back_a_platform_record_removed_by_hand(world):
    from sites import tasks

    tenant, _ = world
    ZoneRecord.objects.filter(name="shop--acme.sites.localhost").delete()
    with tenant_context(tenant):
        assert tasks.site_check_drift(_site(tenant).pk) == ["hostname"]
    _advance(tenant, _site(tenant).pk)
    assert ZoneRecord.objects.filter(name="shop--acme.sites.localhost", type="A").exists()


def _owner_actor(tenant: Tenant):
    from tenants.audit import Actor

    return Actor.of_user(tenant.memberships.get(role=Role.OWNER).user)
