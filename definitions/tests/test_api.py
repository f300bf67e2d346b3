"""Tenant definitions over the API: who may do what, what each answer says, and that a definition
read back applies with no changes."""

import json

import pytest
import yaml
from django_tenants.utils import tenant_context

from definitions.tests.conftest import definition, store_secret
from kernel.testing import wait_until
from sites.models import Site, SiteStatus
from sites.tests.memory_worker import work
from tenants import services
from tenants.audit import Actor
from tenants.models import Role, Tenant, TenantStatus
from tenants.tests.factories import UserFactory

PROBLEM = "application/problem+json"
YAML = "application/yaml"


@pytest.fixture
def staff_key():
    staff = UserFactory(is_staff=True)
    _, raw = services.api_key_create(actor=Actor.of_user(staff), tenant=None, name="ci")
    return raw


def owner_email(tenant):
    return tenant.memberships.get(role=Role.OWNER).user.email


def acme_definition(tenant, **kwargs):
    kwargs.setdefault("display", tenant.name)
    return definition("acme", owners=(owner_email(tenant),), **kwargs)


@pytest.mark.django_db
def test_an_owner_key_plans_applies_and_reads_back_its_own_tenant(
    tenant, client_for, api_key_for, memory_sites, make_tenant
):
    make_tenant(slug="globex")
    key = api_key_for(tenant, role=Role.ADMIN)
    api = client_for(tenant, key=key)
    store_secret(tenant, "stripe-live", "sk_live_secret_value")
    text = acme_definition(
        tenant,
        sites='    - name: blog\n      env: {ANALYTICS_ID: "G-123"}\n'
        "      secretEnv: {STRIPE_KEY: {fromSecret: stripe-live}}\n      domains: [blog.acme.example]\n",
    )

    plan = api.post("/api/v1/tenants/acme/plan/", text, content_type=YAML)
    assert plan.status_code == 200
    assert [(c["action"], c["kind"], c["target"]) for c in plan.json()["changes"]] == [
        ("create", "site", "blog"),
        ("create", "env", "blog ANALYTICS_ID"),
        ("create", "secretEnv", "blog STRIPE_KEY"),
        ("create", "domain", "blog blog.acme.example"),
    ]
    with tenant_context(tenant):
        assert not Site.objects.exists()  # planning changed nothing

    applied = api.put("/api/v1/tenants/acme/", text, content_type=YAML)
    assert applied.status_code == 202  # the site is being made: follow the application
    body = applied.json()
    assert body["follow"] == applied["Location"] == body["application"]["url"]
    assert [(o["site"], o["kind"], o["state"]) for o in body["application"]["operations"]] == [
        ("blog", "create", "queued"),
        ("blog", "env", "queued"),
    ]
    work(tenant)
    followed = api.get(body["follow"]).json()
    assert followed["done"] is True and {o["state"] for o in followed["operations"]} == {"succeeded"}

    again = api.put("/api/v1/tenants/acme/", text, content_type=YAML)
    assert (again.status_code, again.json()["summary"]) == (200, "acme: no changes")

    read = api.get("/api/v1/tenants/acme/")
    document = read.json()
    assert document["status"]["state"] == TenantStatus.ACTIVE
    assert document["status"]["sites"] == {"blog": SiteStatus.READY}
    assert "sk_live_secret_value" not in read.content.decode()
    assert document["spec"]["sites"][0]["secretEnv"] == {"STRIPE_KEY": {"fromSecret": "stripe-live"}}
    # What GET returns applies with no changes, as JSON and as YAML.
    assert api.put("/api/v1/tenants/acme/", document, format="json").json()["summary"] == "acme: no changes"
    as_yaml = api.get("/api/v1/tenants/acme/", HTTP_ACCEPT=YAML)
    assert as_yaml["Content-Type"].startswith(YAML) and "status" not in yaml.safe_load(as_yaml.content)
    assert api.put("/api/v1/tenants/acme/", as_yaml.content, content_type=YAML).json()["summary"] == "acme: no changes"

    # A key of this tenant learns nothing of another one, and never creates or deletes tenants.
    assert api.get("/api/v1/tenants/globex/").status_code == 404
    other = definition("globex", owners=("x@example.com",))
    assert api.put("/api/v1/tenants/globex/", other, content_type=YAML).status_code == 404
    assert api.post("/api/v1/tenants/globex/plan/", other, content_type=YAML).status_code == 404
    refused = api.post("/api/v1/tenants/", other, content_type=YAML)
    assert (refused.status_code, refused["Content-Type"]) == (403, PROBLEM)
    assert api.delete("/api/v1/tenants/acme/").status_code == 403
    assert Tenant.objects.filter(slug="globex").exists()


@pytest.mark.django_db
def test_only_owners_apply_definitions(tenant, client_for, api_key_for, add_member, memory_sites):
    text = acme_definition(tenant, sites="    - name: blog\n")
    admin_user = add_member(tenant, Role.ADMIN)
    _, raw = services.api_key_create(actor=Actor.of_user(admin_user), tenant=tenant, name="admin's", role=Role.ADMIN)
    admin = client_for(tenant, key=raw)
    refused = admin.put("/api/v1/tenants/acme/", text, content_type=YAML)
    assert (refused.status_code, refused["Content-Type"]) == (403, PROBLEM)
    assert admin.get("/api/v1/tenants/acme/").status_code == 403
    # An owner's key with a lower role than a key can hold does not either.
    lesser = client_for(tenant, key=api_key_for(tenant, role=Role.MEMBER))
    assert lesser.put("/api/v1/tenants/acme/", text, content_type=YAML).status_code == 403
    member = client_for(tenant, user=add_member(tenant, Role.MEMBER))
    assert member.put("/api/v1/tenants/acme/", text, content_type=YAML).status_code == 403
    with tenant_context(tenant):
        assert not Site.objects.exists()


@pytest.mark.django_db
def test_bad_definitions_get_problem_json_with_line_and_field_and_change_nothing(
    tenant, client_for, api_key_for, memory_sites
):
    api = client_for(tenant, key=api_key_for(tenant, role=Role.ADMIN))
    text = acme_definition(tenant, sites="    - name: blog\n      scaling: {maxWorkers: 0}\n")
    bad = api.put("/api/v1/tenants/acme/", text, content_type=YAML, HTTP_X_DEFINITION_SOURCE="tenants/acme.yaml")
    assert (bad.status_code, bad["Content-Type"]) == (400, PROBLEM)
    assert bad.json()["errors"] == [
        {
            "field": "spec.sites[0].scaling.maxWorkers",
            "message": "0 is less than the minimum of 1",
            "line": 10,
            "source": "tenants/acme.yaml",
        }
    ]
    renamed = api.put("/api/v1/tenants/acme/", definition("other", owners=("a@b.example",)), content_type=YAML)
    assert renamed.status_code == 400 and renamed.json()["errors"][0]["field"] == "metadata.name"
    missing = api.put(
        "/api/v1/tenants/acme/",
        acme_definition(tenant, sites="    - name: blog\n      secretEnv: {K: {fromSecret: nope}}\n"),
        content_type=YAML,
    )
    assert missing.status_code == 400
    assert "no tenant secret “nope”" in missing.json()["errors"][0]["message"]
    assert api.put("/api/v1/tenants/acme/", "<xml/>", content_type="text/xml").status_code == 415
    assert api.put("/api/v1/tenants/acme/", b"\xff\xfe", content_type=YAML).status_code == 400
    with tenant_context(tenant):
        assert not Site.objects.exists()


@pytest.mark.django_db
def test_a_removed_site_shows_in_the_plan_before_it_is_deleted(tenant, client_for, api_key_for, memory_sites):
    api = client_for(tenant, key=api_key_for(tenant, role=Role.ADMIN))
    api.put("/api/v1/tenants/acme/", acme_definition(tenant, sites="    - name: blog\n    - name: shop\n"),
            content_type=YAML)  # fmt: skip
    work(tenant)
    without_shop = acme_definition(tenant, sites="    - name: blog\n")
    plan = api.post("/api/v1/tenants/acme/plan/", without_shop, content_type=YAML).json()
    assert plan["deletes_sites"] == ["shop"]
    assert {"action": "delete", "kind": "site", "target": "shop"}.items() <= plan["changes"][0].items()
    with tenant_context(tenant):
        assert Site.objects.get(slug="shop").status == SiteStatus.READY


@pytest.mark.django_db(transaction=True)
def test_staff_create_a_tenant_from_a_definition_and_follow_it(
    client_for, staff_key, in_memory, drop_created_schemas, celery_worker_thread
):
    api = client_for(None, key=staff_key)
    text = definition("initech", owners=("boss@initech.example", "cto@initech.example"), sites="    - name: www\n")
    created = api.post("/api/v1/tenants/", text, content_type=YAML)
    assert created.status_code == 202
    follow = created.json()["follow"]
    done = wait_until(lambda: (body := api.get(follow).json())["done"] and body, timeout=60, what="applied")
    assert done["state"] == "applied" and done["operations"][0]["state"] == "succeeded"
    tenant = Tenant.objects.get(slug="initech")
    assert sorted(tenant.memberships.filter(role=Role.OWNER).values_list("user__email", flat=True)) == [
        "boss@initech.example",
        "cto@initech.example",
    ]
    assert api.post("/api/v1/tenants/", text, content_type=YAML).status_code == 409
    assert api.post("/api/v1/tenants/initech/plan/", text, content_type=YAML).json()["changes"] == []
    assert api.get("/api/v1/tenants/?managed=true").json() == {"managed": ["initech"]}
    # A plan of a tenant that does not exist is its creation (staff only).
    plan = api.post("/api/v1/tenants/hooli/plan/", definition("hooli", owners=("a@hooli.example",)), content_type=YAML)
    assert plan.json()["creating"] is True and not Tenant.objects.filter(slug="hooli").exists()
    assert api.put("/api/v1/tenants/hooli/", definition("hooli", owners=("a@b.example",)),
                   content_type=YAML).status_code == 404  # fmt: skip

    deleted = api.delete("/api/v1/tenants/initech/")
    assert deleted.status_code == 202
    wait_until(lambda: not Tenant.objects.filter(slug="initech").exists(), timeout=60, what="initech gone")


@pytest.mark.django_db
def test_the_schema_is_published_to_anyone(client):
    answer = client.get("/api/v1/schemas/tenant.json")
    assert answer.status_code == 200
    schema = json.loads(answer.content)
    assert schema["properties"]["apiVersion"] == {"const": "aipress.io/v1alpha1"}
