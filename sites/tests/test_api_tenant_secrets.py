"""Tenant secrets through the API: /api/v1/secrets/ and env vars with `from_secret`, as an integrator
sees them. No answer ever holds a value; errors are problem JSON; tenants never see each other's."""

import pytest
from django_tenants.utils import tenant_context

from sites import pipeline
from sites.drivers import secret_store
from sites.models import SiteEnvVar, TenantSecret
from sites.tests.factories import requested_site
from tenants.models import Role

pytestmark = pytest.mark.django_db

VALUE = "whsec_api_value_0001"
NEW_VALUE = "whsec_api_value_0002"
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    """Operations are only queued here: the pipeline has its own tests."""
    monkeypatch.setattr(pipeline, "kick", lambda tenant, site_id, after=None: None)


@pytest.fixture
def acme(make_tenant):
    return make_tenant(slug="acme")


@pytest.fixture
def api(acme, client_for, api_key_for):
    return client_for(acme, key=api_key_for(acme))


def _secrets(tenant):
    with tenant_context(tenant):
        return sorted(TenantSecret.objects.values_list("name", "reference"))


def test_put_get_delete_and_never_a_value(acme, api):
    answers = []
    created = api.put("/api/v1/secrets/stripe-live/", {"value": VALUE}, format="json")
    answers.append(created)
    assert created.status_code == 201, created.content
    assert created["Location"] == "/api/v1/secrets/stripe-live/"
    body = created.json()
    assert set(body) == {"name", "created_at", "updated_at", "updated_by", "used_by"}
    assert (body["name"], body["used_by"]) == ("stripe-live", [])
    assert body["updated_by"].startswith("api key ")

    replaced = api.put("/api/v1/secrets/stripe-live/", {"value": NEW_VALUE}, format="json")
    answers.append(replaced)
    assert replaced.status_code == 200
    assert replaced.json()["created_at"] == body["created_at"]
    assert replaced.json()["updated_at"] >= body["updated_at"]
    with tenant_context(acme):
        assert secret_store().reveal(TenantSecret.objects.get().reference) == NEW_VALUE

    listed = api.get("/api/v1/secrets/")
    answers.append(listed)
    assert [s["name"] for s in listed.json()] == ["stripe-live"]

    requested_site(acme, "blog")
    linked = api.put("/api/v1/sites/blog/env/STRIPE_KEY/", {"from_secret": "stripe-live"}, format="json")
    answers.append(linked)
    assert linked.status_code == 202, linked.content
    assert linked.json()["operation"]["kind"] == "env"
    assert {k: linked.json()[k] for k in ("name", "value", "sensitive", "from_secret")} == {
        "name": "STRIPE_KEY",
        "value": "••••••••",
        "sensitive": True,
        "from_secret": "stripe-live",
    }
    api.put("/api/v1/sites/blog/env/CURRENCY/", {"value": "EUR"}, format="json")
    env = api.get("/api/v1/sites/blog/env/")
    answers.append(env)
    assert {v["name"]: (v["value"], v["from_secret"]) for v in env.json()} == {
        "CURRENCY": ("EUR", None),
        "STRIPE_KEY": ("••••••••", "stripe-live"),
    }
    answers.append(api.get("/api/v1/sites/blog/env/STRIPE_KEY/"))
    answers.append(api.get("/api/v1/secrets/"))
    assert answers[-1].json()[0]["used_by"] == ["blog/STRIPE_KEY"]

    refused = api.delete("/api/v1/secrets/stripe-live/")
    answers.append(refused)
    assert refused.status_code == 409
    assert refused["Content-Type"] == PROBLEM
    assert refused.json()["detail"] == "stripe-live is used by blog's STRIPE_KEY: remove those first."

    # The env var takes a value of its own again: the link is gone, the secret is free.
    own = api.put("/api/v1/sites/blog/env/STRIPE_KEY/", {"value": "literal", "sensitive": True}, format="json")
    assert own.status_code == 202 and own.json()["from_secret"] is None
    deleted = api.delete("/api/v1/secrets/stripe-live/")
    assert deleted.status_code == 204 and deleted.content == b""
    missing = api.delete("/api/v1/secrets/stripe-live/")
    assert missing.status_code == 404 and missing["Content-Type"] == PROBLEM
    assert api.get("/api/v1/secrets/").json() == []

    for answer in answers:
        text = answer.content.decode()
        assert VALUE not in text and NEW_VALUE not in text, answer.request


def test_schema_documents_the_secret_endpoints(api):
    schema = api.get("/api/schema/", {"format": "json"})
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"get"} <= set(paths["/api/v1/secrets/"])
    assert {"put", "delete"} <= set(paths["/api/v1/secrets/{name}/"])


@pytest.mark.parametrize(
    ("name", "body", "field"),
    [
        ("Stripe", {"value": VALUE}, "name"),
        ("-stripe", {"value": VALUE}, "name"),
        ("a" * 64, {"value": VALUE}, "name"),
        ("stripe-live", {"value": "a\x00b"}, "value"),
        ("stripe-live", {"value": "x" * 8193}, "value"),
        ("stripe-live", {}, "value"),
        ("stripe-live", {"value": None}, "value"),
    ],
)
def test_bad_names_and_values_are_field_errors_and_change_nothing(acme, api, name, body, field):
    response = api.put(f"/api/v1/secrets/{name}/", body, format="json")
    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM
    assert response.json()["errors"][0]["field"] == field
    assert VALUE not in response.content.decode()
    assert _secrets(acme) == []


def test_env_var_bodies_are_checked(acme, api):
    requested_site(acme, "blog")
    api.put("/api/v1/secrets/stripe-live/", {"value": VALUE}, format="json")
    both = api.put("/api/v1/sites/blog/env/STRIPE_KEY/", {"value": "x", "from_secret": "stripe-live"}, format="json")
    assert both.status_code == 400 and "either a value or from_secret" in both.json()["errors"][0]["message"]
    assert api.put("/api/v1/sites/blog/env/STRIPE_KEY/", {}, format="json").status_code == 400
    ghost = api.put("/api/v1/sites/blog/env/STRIPE_KEY/", {"from_secret": "stripe-test"}, format="json")
    assert ghost.status_code == 404 and "No secret “stripe-test” here" in ghost.json()["detail"]
    bad = api.put("/api/v1/sites/blog/env/STRIPE_KEY/", {"from_secret": "Not Valid"}, format="json")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "from_secret"
    no_site = api.put("/api/v1/sites/ghost/env/STRIPE_KEY/", {"from_secret": "stripe-live"}, format="json")
    assert no_site.status_code == 404
    with tenant_context(acme):
        assert not SiteEnvVar.objects.exists()


@pytest.mark.parametrize("role", [Role.MEMBER, Role.BILLING])
def test_members_without_the_role_get_403_and_change_nothing(acme, api, client_for, add_member, api_key_for, role):
    requested_site(acme, "blog")
    api.put("/api/v1/secrets/stripe-live/", {"value": VALUE}, format="json")
    before = _secrets(acme)
    person = add_member(acme, role)
    for client in (client_for(acme, user=person), client_for(acme, key=api_key_for(acme, role=role))):
        assert client.get("/api/v1/secrets/").json()[0]["name"] == "stripe-live"  # names are for every member
        for response in (
            client.put("/api/v1/secrets/stripe-live/", {"value": "stolen"}, format="json"),
            client.put("/api/v1/secrets/new-one/", {"value": "x"}, format="json"),
            client.delete("/api/v1/secrets/stripe-live/"),
            client.put("/api/v1/sites/blog/env/STRIPE_KEY/", {"from_secret": "stripe-live"}, format="json"),
        ):
            assert response.status_code == 403, response.content
            assert response["Content-Type"] == PROBLEM
    assert _secrets(acme) == before
    with tenant_context(acme):
        assert not SiteEnvVar.objects.exists()


def test_tenant_b_cannot_list_set_delete_or_link_tenant_a_secrets(acme, api, make_tenant, client_for, api_key_for):
    bravo = make_tenant(slug="bravo")
    api.put("/api/v1/secrets/alpha-only/", {"value": VALUE}, format="json")
    a_before = _secrets(acme)
    b_owner = bravo.memberships.get(role=Role.OWNER).user
    b_key = api_key_for(bravo)

    # B's member signed in on A's host: nothing exists for them.
    on_a = client_for(acme, user=b_owner)
    for response in (
        on_a.get("/api/v1/secrets/"),
        on_a.put("/api/v1/secrets/alpha-only/", {"value": "stolen"}, format="json"),
        on_a.delete("/api/v1/secrets/alpha-only/"),
    ):
        assert response.status_code == 404 and response["Content-Type"] == PROBLEM
        assert "alpha-only" not in response.json()["detail"]  # the path is echoed in `instance` only
    # B's key acts in B whatever the host, and B's member on B's host: A's secret is not there.
    requested_site(bravo, "bravo-blog")
    for client in (client_for(bravo, key=b_key), client_for(acme, key=b_key), client_for(bravo, user=b_owner)):
        assert client.get("/api/v1/secrets/").json() == []
        assert client.delete("/api/v1/secrets/alpha-only/").status_code == 404
        link = client.put("/api/v1/sites/bravo-blog/env/STRIPE_KEY/", {"from_secret": "alpha-only"}, format="json")
        assert link.status_code == 404, link.content
        assert link["Content-Type"] == PROBLEM
    # A PUT of the same name in B makes B's own secret; A's is untouched.
    own = client_for(bravo, key=b_key).put("/api/v1/secrets/alpha-only/", {"value": "bravo's"}, format="json")
    assert own.status_code == 201
    assert _secrets(acme) == a_before
    with tenant_context(acme):
        assert secret_store().reveal(TenantSecret.objects.get().reference) == VALUE
    with tenant_context(bravo):
        assert secret_store().reveal(TenantSecret.objects.get().reference) == "bravo's"
        assert not SiteEnvVar.objects.exists()
