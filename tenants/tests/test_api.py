"""The tenant API as an integrator and a portal user see it: shapes, roles, and clear errors."""

import pytest
from django.core import mail

from tenants.models import ApiKey, AuditEvent, Invitation, Membership, Role

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


def test_current_tenant_with_api_key_shows_slug_status_and_role(tenant, client_for, api_key_for):
    key = api_key_for(tenant, role=Role.MEMBER)
    response = client_for(tenant, key=key).get("/api/v1/tenant/")
    assert response.status_code == 200
    assert response.json() | {} == {
        "slug": "acme",
        "name": "Acme",
        "status": "active",
        "role": "member",
        "portal_url": tenant.portal_url,
        "max_sites": tenant.max_sites,
        "max_members": tenant.max_members,
    }


def test_api_key_acts_in_its_own_tenant_whatever_the_host(tenant, make_tenant, client_for, api_key_for):
    other = make_tenant(slug="globex")
    key = api_key_for(tenant)
    for host_tenant in (other, None):  # another tenant's host, and the public host
        response = client_for(host_tenant, key=key).get("/api/v1/tenant/")
        assert response.status_code == 200
        assert response.json()["slug"] == "acme"


def test_session_user_sees_own_role(tenant, owner, client_for):
    response = client_for(tenant, user=owner).get("/api/v1/tenant/")
    assert response.json()["role"] == "owner"


def test_missing_credentials_get_401_problem(tenant, client_for):
    response = client_for(tenant).get("/api/v1/tenant/")
    assert response.status_code == 401
    assert response["Content-Type"] == PROBLEM
    assert response.json()["status"] == 401


@pytest.mark.parametrize("bad", ["nonsense", "aip_AAAAAAAA_" + "x" * 40])
def test_unknown_key_gets_401_problem_on_any_host(tenant, client_for, bad):
    for host in (tenant, None):
        response = client_for(host, key=bad).get("/api/v1/tenant/")
        assert response.status_code == 401
        assert response["Content-Type"] == PROBLEM
        assert "invalid or revoked" in response.json()["detail"]


def test_revoked_key_stops_working_and_revocation_is_audited(tenant, owner, client_for, api_key_for):
    key = api_key_for(tenant)
    api = client_for(tenant, user=owner)
    key_id = ApiKey.objects.get(prefix=key.rsplit("_", 1)[0]).pk
    assert api.delete(f"/api/v1/api-keys/{key_id}/").status_code == 204
    response = client_for(tenant, key=key).get("/api/v1/tenant/")
    assert response.status_code == 401
    assert AuditEvent.objects.filter(action="apikey.revoke", tenant=tenant).exists()
    again = api.delete(f"/api/v1/api-keys/{key_id}/")
    assert again.status_code == 409


def test_create_key_shows_secret_once_and_stores_only_a_hash(tenant, owner, client_for):
    api = client_for(tenant, user=owner)
    response = api.post("/api/v1/api-keys/", {"name": "CI"}, format="json")
    assert response.status_code == 201
    body = response.json()
    secret = body["key"]
    assert secret.startswith(body["prefix"] + "_")
    stored = ApiKey.objects.get(pk=body["id"])
    assert secret not in (stored.key_hash, stored.prefix)
    listed = api.get("/api/v1/api-keys/").json()
    assert [k["prefix"] for k in listed] == [body["prefix"]]
    assert "key" not in listed[0]
    assert secret not in api.get("/api/v1/api-keys/").content.decode()
    # The new key works (its last use is recorded by a task: test_api_hot_path).
    assert client_for(tenant, key=secret).get("/api/v1/tenant/").status_code == 200


def test_member_cannot_create_keys_or_invite(tenant, add_member, client_for):
    member = add_member(tenant, Role.MEMBER)
    api = client_for(tenant, user=member)
    assert api.get("/api/v1/members/").status_code == 200
    r1 = api.post("/api/v1/api-keys/", {"name": "x"}, format="json")
    r2 = api.post("/api/v1/members/", {"email": "a@example.com"}, format="json")
    assert (r1.status_code, r2.status_code) == (403, 403)
    assert r1["Content-Type"] == PROBLEM
    assert not ApiKey.objects.filter(tenant=tenant).exists()
    assert not Invitation.objects.filter(tenant=tenant).exists()


def test_invite_sends_email_and_accepting_creates_membership(
    tenant, owner, client_for, django_capture_on_commit_callbacks
):
    from tenants.tests.factories import UserFactory

    api = client_for(tenant, user=owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/members/", {"email": "New@Example.com", "role": "billing"}, format="json")
    assert response.status_code == 201, response.content
    assert response.json()["state"] == "pending"
    assert len(mail.outbox) == 1
    link = next(line for line in mail.outbox[0].body.splitlines() if "/invitations/" in line).split()[-1]
    path = "/" + link.split("/", 3)[3]
    invitee = UserFactory(email="new@example.com")
    public = client_for(None, user=invitee)
    assert public.post(path).status_code == 302
    assert Membership.objects.get(tenant=tenant, user=invitee).role == "billing"
    # A used invitation cannot be used again.
    assert public.post(path).status_code == 200
    assert Membership.objects.filter(tenant=tenant, user=invitee).count() == 1


def test_invitation_for_someone_else_is_refused(tenant, owner, client_for, django_capture_on_commit_callbacks):
    from tenants import services
    from tenants.audit import Actor
    from tenants.tests.factories import UserFactory

    with django_capture_on_commit_callbacks(execute=True):
        services.invitation_create(actor=Actor.of_user(owner), tenant=tenant, email="a@example.com", role="member")
    link = mail.outbox[0].body.split("/invitations/")[1].split("/")[0]
    intruder = UserFactory()
    client_for(None, user=intruder).post(f"/invitations/{link}/")
    assert not Membership.objects.filter(tenant=tenant, user=intruder).exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"email": "x@example.com", "role": "emperor"}, "role"),
        ({}, "email"),
    ],
)
def test_bad_invitations_get_field_errors_and_change_nothing(
    tenant, owner, client_for, payload, field, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(tenant, user=owner).post("/api/v1/members/", payload, format="json")
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    body = response.json()
    assert body["type"].endswith("validation-error")
    assert [e["field"] for e in body["errors"]] == [field]
    assert not Invitation.objects.exists()
    assert not mail.outbox


def test_malformed_json_is_a_clear_400(tenant, owner, client_for):
    response = client_for(tenant, user=owner).generic(
        "POST", "/api/v1/members/", "{not json", content_type="application/json"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert "JSON parse error" in response.json()["detail"]
    assert not Invitation.objects.exists()


def test_change_role_and_the_last_owner_rule(tenant, owner, add_member, client_for):
    api = client_for(tenant, user=owner)
    owner_id = Membership.objects.get(user=owner, tenant=tenant).pk
    demote = api.patch(f"/api/v1/members/{owner_id}/", {"role": "admin"}, format="json")
    assert demote.status_code == 409
    assert "last owner" in demote.json()["detail"]
    assert api.delete(f"/api/v1/members/{owner_id}/").status_code == 409
    assert Membership.objects.get(pk=owner_id).role == "owner"

    admin = add_member(tenant, Role.ADMIN)
    admin_id = Membership.objects.get(user=admin, tenant=tenant).pk
    assert api.patch(f"/api/v1/members/{admin_id}/", {"role": "owner"}, format="json").json()["role"] == "owner"
    # With a second owner, the first may step down.
    assert api.patch(f"/api/v1/members/{owner_id}/", {"role": "member"}, format="json").status_code == 200


def test_admin_cannot_touch_owner_role(tenant, owner, add_member, client_for):
    admin = add_member(tenant, Role.ADMIN)
    api = client_for(tenant, user=admin)
    owner_id = Membership.objects.get(user=owner, tenant=tenant).pk
    assert api.patch(f"/api/v1/members/{owner_id}/", {"role": "member"}, format="json").status_code == 403
    member = add_member(tenant)
    member_id = Membership.objects.get(user=member, tenant=tenant).pk
    assert api.patch(f"/api/v1/members/{member_id}/", {"role": "owner"}, format="json").status_code == 403
    assert api.patch(f"/api/v1/members/{member_id}/", {"role": "billing"}, format="json").status_code == 200


def test_unknown_role_on_change_is_400(tenant, owner, add_member, client_for):
    member = add_member(tenant)
    member_id = Membership.objects.get(user=member, tenant=tenant).pk
    response = client_for(tenant, user=owner).patch(f"/api/v1/members/{member_id}/", {"role": "root"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "role"
    assert Membership.objects.get(pk=member_id).role == "member"


def test_member_may_leave_but_not_remove_others(tenant, add_member, client_for):
    member = add_member(tenant)
    other = add_member(tenant)
    api = client_for(tenant, user=member)
    other_id = Membership.objects.get(user=other, tenant=tenant).pk
    assert api.delete(f"/api/v1/members/{other_id}/").status_code == 403
    mine = Membership.objects.get(user=member, tenant=tenant).pk
    assert api.delete(f"/api/v1/members/{mine}/").status_code == 204
    assert not Membership.objects.filter(pk=mine).exists()


def test_unknown_endpoint_is_problem_json(tenant, owner, client_for):
    response = client_for(tenant, user=owner).get("/api/v1/nope/")
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM


def test_throttling_per_key(tenant, client_for, api_key_for, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    from aipress.api.throttling import ApiThrottle

    monkeypatch.setattr(ApiThrottle, "clock", staticmethod(lambda: 1_800_000_030.0))  # mid-window, fixed
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"key_or_user": "3/min", "tenant": "100/min"})
    api = client_for(tenant, key=api_key_for(tenant))
    codes = [api.get("/api/v1/tenant/").status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    assert api.get("/api/v1/tenant/")["Content-Type"] == PROBLEM
    # Another key has a budget of its own.
    assert client_for(tenant, key=api_key_for(tenant)).get("/api/v1/tenant/").status_code == 200
