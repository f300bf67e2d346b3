"""Portal pages on the public and tenant hosts."""

import pytest
from django.core import mail

from tenants.models import ApiKey, Membership, Tenant

pytestmark = pytest.mark.django_db


def test_check_slug_answers_live(tenant, client_for):
    client = client_for(None)
    assert client.get("/onboarding/check-slug/?slug=fresh-name").json()["available"] is True
    taken = client.get("/onboarding/check-slug/?slug=acme").json()
    assert (taken["available"], taken["message"]) == (False, "“acme” is already taken.")
    assert "reserved" in client.get("/onboarding/check-slug/?slug=api").json()["message"]


def test_onboarding_creates_tenant_and_redirects_to_its_host(client_for):
    from tenants.tests.factories import UserFactory

    user = UserFactory()
    response = client_for(None, user=user).post("/onboarding/", {"name": "Crumbs Bakery", "slug": "crumbs"})
    assert response.status_code == 302
    tenant = Tenant.objects.get(slug="crumbs")
    assert response["Location"] == tenant.portal_url
    assert Membership.objects.get(tenant=tenant).role == "owner"
    # Until the worker has made the schema, the portal says so.
    page = client_for(tenant, user=user).get("/")
    assert "Preparing your workspace" in page.content.decode()


def test_onboarding_with_bad_slug_shows_the_error_and_creates_nothing(client_for):
    from tenants.tests.factories import UserFactory

    response = client_for(None, user=UserFactory()).post("/onboarding/", {"name": "X", "slug": "www"})
    assert response.status_code == 200
    assert "reserved" in response.content.decode()
    assert not Tenant.objects.exists()


def test_anonymous_portal_visit_is_sent_to_sign_in(tenant, client_for):
    response = client_for(tenant).get("/team/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=/team/")


def test_home_team_keys_and_settings_render_for_members(tenant, owner, client_for):
    client = client_for(tenant, user=owner)
    for path, text in [
        ("/", "Recent activity"),
        ("/team/", owner.email),
        ("/api-keys/", "Create a key"),
        ("/settings/", "Organisation name"),
    ]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert text in response.content.decode(), path


def test_new_api_key_is_shown_once(tenant, owner, client_for):
    client = client_for(tenant, user=owner)
    created = client.post("/api-keys/", {"name": "Deploys", "role": "admin", "scope": "write"})
    page = created.content.decode()
    key = ApiKey.objects.get(tenant=tenant)
    secret = page.split('id="new-key">')[1].split("<")[0]
    assert secret.startswith(key.prefix + "_")
    assert created["Cache-Control"] == "no-store"
    assert secret not in client.get("/api-keys/").content.decode()


def test_invite_from_team_page_sends_mail(tenant, owner, client_for, django_capture_on_commit_callbacks):
    client = client_for(tenant, user=owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/team/", {"email": "pat@example.com", "role": "member"})
    assert response.status_code == 302
    assert mail.outbox[0].to == ["pat@example.com"]


def test_member_sees_no_manager_controls(tenant, add_member, client_for):
    member = add_member(tenant)
    page = client_for(tenant, user=member).get("/team/").content.decode()
    assert "Send invitation" not in page
    response = client_for(tenant, user=member).post("/team/invitations/1/revoke/")
    assert response.status_code == 403


def test_user_of_two_tenants_can_switch(make_tenant, client_for):
    from tenants.tests.factories import UserFactory

    user = UserFactory()
    make_tenant(slug="acme", owner=user)
    globex = make_tenant(slug="globex", owner=user)
    page = client_for(globex, user=user).get("/").content.decode()
    assert "Switch organisation" in page
    assert "http://acme." in page or "https://acme." in page


def test_only_owners_and_admins_rename_the_organisation(tenant, owner, add_member, client_for):
    member = add_member(tenant)
    refused = client_for(tenant, user=member).post("/settings/", {"name": "Hijacked"}, follow=True)
    assert "Only owners and admins" in refused.content.decode()
    tenant.refresh_from_db()
    assert tenant.name == "Acme"
    client_for(tenant, user=owner).post("/settings/", {"name": "Acme Ltd"})
    tenant.refresh_from_db()
    assert tenant.name == "Acme Ltd"
