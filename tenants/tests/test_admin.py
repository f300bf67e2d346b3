"""The staff console: every tenant, suspend with a reason, audit log; members get no access."""

import pytest

from tenants.models import AuditEvent
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client(client_for):
    return client_for(None, user=UserFactory(is_staff=True, is_superuser=True))


def test_staff_sees_every_tenant_with_status_and_member_count(make_tenant, add_member, staff_client):
    make_tenant(slug="acme")
    globex = make_tenant(slug="globex")
    add_member(globex)
    page = staff_client.get("/admin/tenants/tenant/").content.decode()
    assert "acme" in page and "globex" in page
    assert staff_client.get("/admin/tenants/tenant/?q=glob").content.decode().count('class="field-slug"') == 1
    filtered = staff_client.get("/admin/tenants/tenant/?status__exact=suspended").content.decode()
    assert "globex" not in filtered


def test_suspend_action_asks_for_a_reason_then_suspends_and_audits(tenant, staff_client):
    form = {"action": "suspend_tenants", "_selected_action": [tenant.pk]}
    ask = staff_client.post("/admin/tenants/tenant/", form)
    assert ask.status_code == 200
    assert "Reason" in ask.content.decode()
    tenant.refresh_from_db()
    assert tenant.status == "active"  # nothing happens until a reason is given

    empty = staff_client.post("/admin/tenants/tenant/", form | {"apply": "1", "reason": ""})
    assert empty.status_code == 200
    tenant.refresh_from_db()
    assert tenant.status == "active"

    done = staff_client.post("/admin/tenants/tenant/", form | {"apply": "1", "reason": "Abuse report #12"})
    assert done.status_code == 302
    tenant.refresh_from_db()
    assert (tenant.status, tenant.suspended_reason) == ("suspended", "Abuse report #12")
    event = AuditEvent.objects.get(action="tenant.suspend")
    assert event.ip_address == "127.0.0.1"
    log = staff_client.get("/admin/tenants/auditevent/").content.decode()
    assert "tenant.suspend" in log

    staff_client.post(
        "/admin/tenants/tenant/",
        {"action": "reactivate_tenants", "_selected_action": [tenant.pk], "apply": "1", "reason": "resolved"},
    )
    tenant.refresh_from_db()
    assert tenant.status == "active"


def test_tenant_member_gets_no_admin(tenant, owner, client_for):
    response = client_for(None, user=owner).get("/admin/")
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_admin_is_not_served_on_tenant_hosts(tenant, client_for):
    staff = UserFactory(is_staff=True, is_superuser=True)
    assert client_for(tenant, user=staff).get("/admin/").status_code == 404
