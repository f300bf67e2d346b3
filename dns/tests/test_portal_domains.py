"""Domains on a site's portal page: the panel with its records and statuses, adding, checking and
removing through the forms; what each role sees; another tenant's page is not there."""

import pytest

from dns import services
from dns.models import CustomDomain
from sites.runtimes import memory
from sites.tests.factories import requested_site
from tenants.models import Role

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def acme(settings, make_tenant, monkeypatch):
    settings.DRIVERS = {**settings.DRIVERS, "runtime": "memory"}
    memory.reset()
    monkeypatch.setattr(services, "_kick", lambda domain_id: None)
    tenant = make_tenant(slug="acme")
    requested_site(tenant, "shop")
    return tenant


def _portal(client_for, tenant, user):
    client = client_for(tenant, user=user)
    client.defaults["HTTP_HOST"] = tenant.host
    return client


def test_the_site_page_holds_the_domains_panel_and_the_panel_lists_records_to_copy(acme, client_for):
    owner = acme.memberships.get(role=Role.OWNER).user
    client = _portal(client_for, acme, owner)
    page = client.get("/sites/shop/").content.decode()
    assert 'id="domains"' in page and 'data-url="/sites/shop/domains/"' in page and "js/domains." in page
    added = client.post("/sites/shop/domains/", {"domain": "www.their-shop.test"}, follow=True)
    assert "www.their-shop.test added" in added.content.decode()
    token = CustomDomain.objects.get(hostname="www.their-shop.test").token
    panel = client.get("/sites/shop/domains/?fragment=1").content.decode()
    assert "<html" not in panel  # a fragment for the page's script
    assert f'data-copy="{token}"' in panel and 'data-copy="_aipress-challenge.www.their-shop.test"' in panel
    assert 'data-copy="shop--acme.sites.localhost"' in panel
    for label in ("Ownership", "DNS", "Certificate", "Check now", "Remove"):
        assert label in panel
    full = client.get("/sites/shop/domains/").content.decode()
    assert "<html" in full and "Domains of" in full  # without a script, a page of its own

    refused = client.post("/sites/shop/domains/", {"domain": "shop.sites.localhost"}, follow=True)
    assert "own zone (sites.localhost)" in refused.content.decode()
    checking = client.post("/sites/shop/domains/www.their-shop.test/verify/", follow=True)
    assert "Checking www.their-shop.test now." in checking.content.decode()
    removed = client.post("/sites/shop/domains/www.their-shop.test/remove/", follow=True)
    assert "www.their-shop.test removed" in removed.content.decode()
    assert not CustomDomain.objects.exists()


def test_a_billing_member_sees_domains_without_the_forms(acme, client_for, add_member):
    owner = acme.memberships.get(role=Role.OWNER).user
    from tenants.audit import Actor

    services.domain_add(tenant=acme, actor=Actor.of_user(owner), site="shop", domain="www.their-shop.test")
    client = _portal(client_for, acme, add_member(acme, Role.BILLING))
    panel = client.get("/sites/shop/domains/?fragment=1").content.decode()
    assert "www.their-shop.test" in panel and "Check now" not in panel and "Add domain" not in panel
    refused = client.post("/sites/shop/domains/", {"domain": "b.their-shop.test"}, follow=True)
    assert "not change them" in refused.content.decode()
    assert CustomDomain.objects.count() == 1


def test_another_tenants_member_finds_no_such_page(acme, client_for, make_tenant):
    other = make_tenant(slug="globex")
    stranger = other.memberships.get(role=Role.OWNER).user
    client = _portal(client_for, acme, stranger)
    looked = client.get("/sites/shop/domains/")
    posted = client.post("/sites/shop/domains/", {"domain": "www.their-shop.test"})
    assert (looked.status_code, posted.status_code) == (404, 404)  # as if there were no such site
    assert not CustomDomain.objects.exists()
