"""API keys never outlive their creator's rights, keys never remove their creator, the plan caps
keys, a tenant's keys share one rate, staff look but do not touch, and nobody picks their own IP."""

import pytest
from rest_framework.throttling import SimpleRateThrottle

from tenants.models import ApiKey, AuditEvent, Membership, Role

pytestmark = pytest.mark.django_db


def _key_of(user, tenant, client_for, role=Role.ADMIN):
    response = client_for(tenant, user=user).post("/api/v1/api-keys/", {"name": "ci", "role": role}, format="json")
    assert response.status_code == 201, response.content
    return response.json()["key"]


def test_a_removed_admins_key_stops_working_at_once(tenant, owner, add_member, client_for):
    admin = add_member(tenant, Role.ADMIN)
    key = _key_of(admin, tenant, client_for)
    api = client_for(tenant, key=key)
    assert api.get("/api/v1/sites/").status_code == 200
    membership = Membership.objects.get(tenant=tenant, user=admin)
    assert client_for(tenant, user=owner).delete(f"/api/v1/members/{membership.pk}/").status_code == 204
    for call in (
        lambda: api.get("/api/v1/sites/"),
        lambda: api.get("/api/v1/tenant/"),
        lambda: api.post("/api/v1/api-keys/", {"name": "backdoor"}, format="json"),
    ):
        response = call()
        assert response.status_code == 401
        assert "no longer a member" in response.json()["detail"]
    assert not ApiKey.objects.filter(name="backdoor").exists()


def test_a_demoted_admins_key_drops_to_the_new_role(tenant, owner, add_member, client_for):
    admin = add_member(tenant, Role.ADMIN)
    key = _key_of(admin, tenant, client_for)
    membership = Membership.objects.get(tenant=tenant, user=admin)
    client_for(tenant, user=owner).patch(f"/api/v1/members/{membership.pk}/", {"role": "billing"}, format="json")
    api = client_for(tenant, key=key)
    assert api.get("/api/v1/tenant/").json()["role"] == "billing"
    assert api.post("/api/v1/api-keys/", {"name": "more"}, format="json").status_code == 403
    assert api.post("/api/v1/sites/", {"name": "blog"}, format="json").status_code == 403
    # Promoted again, the key never exceeds the role it was created with.
    client_for(tenant, user=owner).patch(f"/api/v1/members/{membership.pk}/", {"role": "owner"}, format="json")
    assert api.get("/api/v1/tenant/").json()["role"] == "admin"


@pytest.mark.parametrize("key_role", [Role.BILLING, Role.ADMIN])
def test_a_key_never_removes_its_own_creator(tenant, owner, client_for, key_role):
    key = _key_of(owner, tenant, client_for, role=key_role)
    own = Membership.objects.get(tenant=tenant, user=owner)
    response = client_for(tenant, key=key).delete(f"/api/v1/members/{own.pk}/")
    assert response.status_code == 403
    assert "cannot remove the member who created it" in response.json()["detail"]
    assert Membership.objects.filter(pk=own.pk).exists()
    # In a session, a person may still leave (here refused only because they are the last owner).
    assert client_for(tenant, user=owner).delete(f"/api/v1/members/{own.pk}/").status_code == 409


def test_the_plan_caps_active_keys(tenant, owner, client_for):
    tenant.max_api_keys = 2
    tenant.save()
    api = client_for(tenant, user=owner)
    created = [api.post("/api/v1/api-keys/", {"name": f"k{i}"}, format="json") for i in range(3)]
    assert [r.status_code for r in created] == [201, 201, 409]
    assert "allows 2 active API keys" in created[2].json()["detail"]
    api.delete(f"/api/v1/api-keys/{created[0].json()['id']}/")
    assert api.post("/api/v1/api-keys/", {"name": "again"}, format="json").status_code == 201


def test_more_keys_do_not_multiply_a_tenants_rate(tenant, owner, client_for, monkeypatch):
    from aipress.api.throttling import ApiThrottle

    monkeypatch.setattr(ApiThrottle, "clock", staticmethod(lambda: 1_800_000_030.0))  # mid-window, fixed
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"key_or_user": "5/min", "tenant": "6/min"})
    first, second = (client_for(tenant, key=_key_of(owner, tenant, client_for)) for _ in range(2))
    codes = [first.get("/api/v1/tenant/").status_code for _ in range(4)]
    codes += [second.get("/api/v1/tenant/").status_code for _ in range(4)]
    # Key creation above went through the session: 2 of the tenant's 6.
    assert codes == [200, 200, 200, 200, 429, 429, 429, 429]
    refused = first.get("/api/v1/tenant/")
    assert refused["Retry-After"] == "30"  # the window's end


def test_staff_may_look_at_a_tenants_portal_but_not_change_it(tenant, client_for):
    from tenants.tests.factories import UserFactory

    staff = UserFactory(is_staff=True)
    portal = client_for(tenant, user=staff)
    assert portal.get("/").status_code == 200
    assert portal.get("/settings/").status_code == 200
    response = portal.post("/settings/", {"name": "Taken over"})
    assert response.status_code == 403
    tenant.refresh_from_db()
    assert tenant.name == "Acme"
    assert portal.post("/sites/", {"name": "staffsite"}).status_code == 403
    assert portal.post("/api/v1/sites/", {"name": "staffsite"}, format="json").status_code == 404


def test_forwarded_for_counts_only_from_a_trusted_proxy(tenant, owner, client_for, settings):
    api = client_for(tenant, user=owner)
    api.post("/api/v1/api-keys/", {"name": "spoofed"}, format="json", HTTP_X_FORWARDED_FOR="203.0.113.9")
    assert AuditEvent.objects.get(target__startswith="aip_", details__name="spoofed").ip_address == "127.0.0.1"
    settings.TRUSTED_PROXIES = ["127.0.0.0/8"]
    api.post("/api/v1/api-keys/", {"name": "proxied"}, format="json", HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.7")
    assert AuditEvent.objects.get(details__name="proxied").ip_address == "198.51.100.7"


def test_the_throttle_counts_callers_by_their_real_address(rf, settings):
    from aipress.api.throttling import ApiThrottle

    spoofed = rf.get("/api/v1/tenant/", HTTP_X_FORWARDED_FOR="198.51.100.1", REMOTE_ADDR="192.0.2.10")
    assert ApiThrottle().get_ident(spoofed) == "192.0.2.10"
    settings.TRUSTED_PROXIES = ["192.0.2.0/24"]
    assert ApiThrottle().get_ident(spoofed) == "198.51.100.1"
