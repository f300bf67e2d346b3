"""Staff see every site across tenants, filter them, read their operations and events, and retry
failed ones."""

import pytest
from django_tenants.utils import tenant_context

from sites import pipeline
from sites.inventory.models import SiteRecord
from sites.models import Site, SiteOperation, SiteStatus
from sites.tests.factories import requested_site
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client_for):
    return client_for(None, user=UserFactory(is_staff=True, is_superuser=True))


def test_staff_list_filter_operations_and_events(make_tenant, staff_client):
    acme, globex = make_tenant(slug="acme"), make_tenant(slug="globex")
    requested_site(acme, "blog")
    requested_site(globex, "shop")
    page = staff_client.get("/admin/site_inventory/siterecord/").content.decode()
    assert "blog--acme.sites.localhost" in page and "shop--globex.sites.localhost" in page
    filtered = staff_client.get("/admin/site_inventory/siterecord/?status__exact=ready").content.decode()
    assert "blog--acme" not in filtered
    record = SiteRecord.objects.get(slug="blog")
    detail = staff_client.get(f"/admin/site_inventory/siterecord/{record.pk}/change/").content.decode()
    assert "request · succeeded" in detail
    assert "create · queued" in detail


def test_retry_queues_a_retry_operation_for_a_failed_site(
    make_tenant, staff_client, django_capture_on_commit_callbacks
):
    acme = make_tenant(slug="acme")
    site = requested_site(acme, "blog")
    with tenant_context(acme):
        SiteOperation.objects.update(state="failed")
        site = Site.objects.get(pk=site.pk)
        pipeline.set_status(site, acme, SiteStatus.FAILED)
    record = SiteRecord.objects.get(slug="blog")
    with django_capture_on_commit_callbacks() as queued:
        staff_client.post(
            "/admin/site_inventory/siterecord/", {"action": "retry_failed", "_selected_action": [record.pk]}
        )
    assert queued, "the retry is sent to a worker once committed"
    with tenant_context(acme):
        retry = SiteOperation.objects.filter(kind="retry").get()
    assert retry.state == "queued"
    assert retry.requested_by_label.startswith("staff console: ")


def test_tenant_member_cannot_see_the_inventory(tenant, owner, client_for):
    assert client_for(None, user=owner).get("/admin/site_inventory/siterecord/").status_code == 302
