"""Staff endpoints and suspension, through the API and the portal."""

import pytest

from tenants import services
from tenants.audit import Actor
from tenants.models import AuditEvent, Tenant, TenantStatus
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PROBLEM = "application/problem+json"


@pytest.fixture
def staff():
    return UserFactory(is_staff=True)


@pytest.fixture
def staff_key(staff):
    _, raw = services.api_key_create(actor=Actor.of_user(staff), tenant=None, name="ops")
    return raw


def test_staff_lists_every_tenant_with_member_counts(make_tenant, staff, client_for):
    make_tenant(slug="acme")
    make_tenant(slug="globex")
    body = client_for(None, user=staff).get("/api/v1/tenants/").json()
    assert [(t["slug"], t["status"], t["member_count"]) for t in body] == [
        ("acme", "active", 1),
        ("globex", "active", 1),
    ]


def test_staff_key_works_on_any_host_and_tenant_keys_cannot_reach_staff_endpoints(
    tenant, staff_key, client_for, api_key_for
):
    assert client_for(tenant, key=staff_key).get("/api/v1/tenants/").status_code == 200
    tenant_key = api_key_for(tenant)
    # A tenant key is routed to its tenant's URLs, where staff endpoints do not exist.
    assert client_for(None, key=tenant_key).get("/api/v1/tenants/").status_code == 404


def test_tenant_member_is_refused_staff_endpoints(tenant, owner, client_for):
    response = client_for(None, user=owner).get("/api/v1/tenants/")
    assert response.status_code == 403
    assert response["Content-Type"] == PROBLEM


def test_staff_creates_tenant_which_is_queued_as_provisioning(staff, client_for, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        response = client_for(None, user=staff).post(
            "/api/v1/tenants/",
            {"slug": "initech", "name": "Initech", "owner_email": "boss@initech.test"},
            format="json",
        )
    assert response.status_code == 202, response.content
    assert response.json()["status"] == "provisioning"
    assert len(callbacks) == 1  # the provisioning task, sent only once the row is committed
    tenant = Tenant.objects.get(slug="initech")
    assert tenant.memberships.get().user.email == "boss@initech.test"


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("Not A Slug", "lowercase letters"),
        ("ab", "3 to 40"),
        ("admin", "reserved"),
        ("www", "reserved"),
        ("a--b", "Double hyphens"),
        ("acme", "already taken"),
    ],
)
def test_bad_slugs_are_refused_with_a_field_error(tenant, staff, client_for, slug, message):
    before = Tenant.objects.count()
    response = client_for(None, user=staff).post(
        "/api/v1/tenants/", {"slug": slug, "owner_email": "x@example.com"}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert body["errors"][0]["field"] == "slug"
    assert message in body["errors"][0]["message"]
    assert Tenant.objects.count() == before


def test_suspend_needs_a_reason_then_blocks_portal_and_api_but_not_staff(tenant, owner, staff, client_for, api_key_for):
    key = api_key_for(tenant)
    staff_api = client_for(None, user=staff)
    no_reason = staff_api.post("/api/v1/tenants/acme/suspend/", {}, format="json")
    assert no_reason.status_code == 400
    assert no_reason.json()["errors"][0]["field"] == "reason"

    response = staff_api.post("/api/v1/tenants/acme/suspend/", {"reason": "Unpaid invoice"}, format="json")
    assert response.json()["status"] == "suspended"

    api = client_for(tenant, key=key).get("/api/v1/tenant/")
    assert api.status_code == 403
    assert api["Content-Type"] == PROBLEM
    assert "Unpaid invoice" in api.json()["detail"]
    page = client_for(tenant, user=owner).get("/")
    assert page.status_code == 403
    assert "Unpaid invoice" in page.content.decode()
    # Staff can still look inside.
    assert client_for(tenant, user=staff).get("/api/v1/tenant/").json()["status"] == "suspended"
    event = AuditEvent.objects.get(action="tenant.suspend")
    assert (event.actor, event.details["reason"]) == (staff, "Unpaid invoice")

    # Suspending twice is a conflict; resuming restores access.
    assert staff_api.post("/api/v1/tenants/acme/suspend/", {"reason": "again"}, format="json").status_code == 409
    assert staff_api.post("/api/v1/tenants/acme/resume/", {}, format="json").json()["status"] == "active"
    assert client_for(tenant, key=key).get("/api/v1/tenant/").status_code == 200


def test_unknown_tenant_is_404(staff, client_for):
    response = client_for(None, user=staff).post("/api/v1/tenants/nope/suspend/", {"reason": "x"}, format="json")
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM


def test_schema_and_docs_are_served(client_for):
    schema = client_for(None).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for expected in ("/api/v1/tenant/", "/api/v1/members/", "/api/v1/api-keys/", "/api/v1/tenants/"):
        assert expected in paths
    docs = client_for(None).get("/api/docs/")
    assert docs.status_code == 200
    assert b"swagger-ui" in docs.content
    assert b"cdn" not in docs.content.lower()  # self-hosted sidecar, no CDN


def test_healthz_and_readyz(client_for, monkeypatch):
    client = client_for(None)
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": "ok", "redis": "ok", "broker": "ok"}
    # Point the Redis check at a port where nothing listens: 503 names the failing part.
    monkeypatch.setattr("django.conf.settings.REDIS_URL", "redis://127.0.0.1:1/0")
    broken = client.get("/readyz")
    assert broken.status_code == 503
    assert broken.json()["failing"] == ["redis"]


def test_failed_tenant_slug_can_be_claimed_again(staff):
    owner = UserFactory()
    first = services.tenant_create(actor=Actor.of_user(owner), slug="phoenix", name="Phoenix", owner=owner)
    services.tenant_provision_failed(tenant_id=first.pk, error="boom", final=True)
    assert Tenant.objects.get(pk=first.pk).status == TenantStatus.FAILED
    second = services.tenant_create(actor=Actor.of_user(owner), slug="phoenix", name="Phoenix", owner=owner)
    assert second.pk != first.pk
    assert list(Tenant.objects.filter(slug="phoenix")) == [second]


def test_schema_name_is_generated_and_immutable(tenant):
    assert tenant.schema_name.startswith("t_")
    assert tenant.slug not in tenant.schema_name
    tenant.schema_name = "t_other"
    with pytest.raises(ValueError, match="immutable"):
        tenant.save()
