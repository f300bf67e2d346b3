"""The portal's site pages: list, create (password shown once), env editor, typed-name delete."""

import pytest
from django_tenants.utils import tenant_context

from sites.models import Site, SiteEnvVar

pytestmark = pytest.mark.django_db


def test_create_from_the_portal_shows_the_password_once(tenant, owner, client_for):
    client = client_for(tenant, user=owner)
    assert "New site" in client.get("/sites/").content.decode()
    created = client.post("/sites/", {"name": "blog", "title": "My Blog"})
    page = created.content.decode()
    assert created.status_code == 200
    assert created["Cache-Control"] == "no-store"
    password = page.split('id="admin-password">')[1].split("<")[0]
    assert len(password) >= 20
    assert "Requested" in page and "Create: queued" in page
    again = client.get("/sites/blog/").content.decode()
    assert password not in again
    assert "blog--acme.sites.localhost" in client.get("/sites/").content.decode()


def test_bad_name_is_shown_and_nothing_is_created(tenant, owner, client_for):
    response = client_for(tenant, user=owner).post("/sites/", {"name": "No Good!"})
    assert response.status_code == 400
    assert "lowercase letters" in response.content.decode()
    with tenant_context(tenant):
        assert not Site.objects.exists()


def test_billing_role_reads_but_cannot_create(tenant, add_member, client_for):
    billing = add_member(tenant, "billing")
    client = client_for(tenant, user=billing)
    assert "New site" not in client.get("/sites/").content.decode()
    refused = client.post("/sites/", {"name": "blog"})
    assert refused.status_code == 400
    assert "can see sites but not change them" in refused.content.decode()
    with tenant_context(tenant):
        assert not Site.objects.exists()


def test_env_editor_masks_sensitive_values(tenant, owner, client_for):
    client = client_for(tenant, user=owner)
    client.post("/sites/", {"name": "shop"})
    client.post("/sites/shop/env/", {"name": "API_TOKEN", "value": "tok_secret_1", "sensitive": "on"})
    client.post("/sites/shop/env/", {"name": "CURRENCY", "value": "EUR"})
    page = client.get("/sites/shop/").content.decode()
    assert "tok_secret_1" not in page and "API_TOKEN" in page and "EUR" in page
    refused = client.post("/sites/shop/env/", {"name": "DB_PASSWORD", "value": "x"}, follow=True)
    assert "set by the platform" in refused.content.decode()
    client.post("/sites/shop/env/CURRENCY/delete/")
    with tenant_context(tenant):
        assert list(SiteEnvVar.objects.values_list("name", flat=True)) == ["API_TOKEN"]


def test_delete_needs_the_name_typed(tenant, owner, client_for):
    client = client_for(tenant, user=owner)
    client.post("/sites/", {"name": "blog"})
    wrong = client.post("/sites/blog/delete/", {"confirm": "blo"}, follow=True)
    assert "Type the site" in wrong.content.decode()
    with tenant_context(tenant):
        assert Site.objects.get(slug="blog").status == "requested"
    client.post("/sites/blog/delete/", {"confirm": "blog"})
    with tenant_context(tenant):
        assert Site.objects.get(slug="blog").status == "deleting"
