"""Staff see every site across tenants, filter them, read their events, and retry failed ones."""

import pytest
from django_tenants.utils import tenant_context

from sites import services
from sites.inventory.models import SiteRecord
from sites.models import Site, SiteStatus
from tenants.audit import Actor
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client_for):
    return client_for(None, user=UserFactory(is_staff=True, is_superuser=True))


def _site(tenant, name):
    owner = tenant.memberships.get().user
    with tenant_context(tenant):
        site, _ = services.site_create(actor=Actor.of_user(owner), tenant=tenant, name=name)
    return site


def test_staff_list_filter_and_events(make_tenant, staff_client):
    acme, globex = make_tenant(slug="acme"), make_tenant(slug="globex")
    _site(acme, "blog")
    _site(globex, "shop")
    page = staff_client.get("/admin/site_inventory/siterecord/").content.decode()
    assert "blog--acme.sites.localhost" in page and "shop--globex.sites.localhost" in page
    filtered = staff_client.get("/admin/site_inventory/siterecord/?status__exact=ready").content.decode()
    assert "blog--acme" not in filtered
    record = SiteRecord.objects.get(slug="blog")
    detail = staff_client.get(f"/admin/site_inventory/siterecord/{record.pk}/change/").content.decode()
    assert "request · succeeded" in detail


def test_retry_puts_a_failed_site_back_to_provisioning(make_tenant, staff_client, django_capture_on_commit_callbacks):
    acme = make_tenant(slug="acme")
    site = _site(acme, "blog")
    with tenant_context(acme):
        services.site_transition(site=site, tenant=acme, to=SiteStatus.FAILED)
    record = SiteRecord.objects.get(slug="blog")
    with django_capture_on_commit_callbacks() as queued:
        staff_client.post(
            "/admin/site_inventory/siterecord/", {"action": "retry_failed", "_selected_action": [record.pk]}
        )
    assert len(queued) == 1  # the first step, sent once the change is committed
    with tenant_context(acme):
        assert Site.objects.get(pk=site.pk).status == "provisioning"
    assert SiteRecord.objects.get(pk=record.pk).status == "provisioning"


def test_tenant_member_cannot_see_the_inventory(tenant, owner, client_for):
    assert client_for(None, user=owner).get("/admin/site_inventory/siterecord/").status_code == 302
