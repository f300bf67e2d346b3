"""The API's hot path (issue 14): keys resolved from a cache that forgets them at once, key calls that
never touch sessions or sign anyone in to the portal, health answered before tenancy, and the last use
of a key recorded off the request path."""

import httpx
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kernel.testing import wait_until
from tenants import key_cache, services, tokens
from tenants.audit import Actor
from tenants.models import ApiKey, Membership, Role, TenantStatus
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def _queries(call) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert call().status_code == 200
    return len(captured.captured_queries)


def test_a_key_seen_once_is_resolved_without_the_database(tenant, client_for, api_key_for):
    api = client_for(tenant, key=api_key_for(tenant))
    first = _queries(lambda: api.get("/api/v1/tenant/"))
    second = _queries(lambda: api.get("/api/v1/tenant/"))
    assert first > 0 == second  # the key, its tenant, its creator and their role: no query at all now


def test_every_change_to_what_a_key_may_do_is_seen_by_the_next_request(
    tenant, owner, add_member, client_for, api_key_for
):
    admin = add_member(tenant, Role.ADMIN)
    _, raw = services.api_key_create(actor=Actor.of_user(admin), tenant=tenant, name="ci", role=Role.ADMIN)
    api = client_for(tenant, key=raw)
    assert api.get("/api/v1/tenant/").json()["role"] == "admin"  # cached from here on

    # The creator's role changes.
    membership = Membership.objects.get(tenant=tenant, user=admin)
    services.membership_change_role(actor=Actor.of_user(owner), membership=membership, role=Role.BILLING)
    assert api.get("/api/v1/tenant/").json()["role"] == "billing"

    # The tenant is renamed (a bulk update, no signal) and then suspended.
    services.tenant_rename(actor=Actor.of_user(owner), tenant=tenant, name="Acme Renamed")
    assert api.get("/api/v1/tenant/").json()["name"] == "Acme Renamed"
    staff = UserFactory.create(is_staff=True)
    services.tenant_suspend(actor=Actor.of_user(staff), tenant=tenant, reason="unpaid")
    assert api.get("/api/v1/tenant/").status_code == 403
    services.tenant_resume(actor=Actor.of_user(staff), tenant=tenant)
    assert api.get("/api/v1/tenant/").status_code == 200

    # The creator is deactivated.
    admin.is_active = False
    admin.save()
    assert api.get("/api/v1/tenant/").status_code == 401


def test_a_request_that_read_a_key_before_its_revocation_cannot_cache_it_again(tenant, api_key_for, client_for):
    raw = api_key_for(tenant)
    key = ApiKey.objects.get(key_hash=tokens.digest(raw))
    # A request read the key from the database; before it writes the cache, the key is revoked.
    services.api_key_revoke(actor=Actor.system("tests"), key=key)
    key_cache.remember(tokens.digest(raw), key)  # the late write of that request
    assert key_cache.cached(tokens.digest(raw)) == key_cache.TOMBSTONE
    assert client_for(tenant, key=raw).get("/api/v1/tenant/").status_code == 401


def test_a_key_sent_to_a_portal_page_signs_nobody_in(tenant, owner, api_key_for, client_for):
    raw = api_key_for(tenant)
    page = client_for(tenant, key=raw).get("/")
    assert page.status_code == 302
    assert "/accounts/login/" in page["Location"]
    # With a session the portal works as before.
    assert client_for(tenant, user=owner).get("/").status_code == 200


def test_api_calls_with_a_key_set_no_cookie_and_keep_their_checks(tenant, owner, api_key_for, client_for):
    api = client_for(tenant, key=api_key_for(tenant, role=Role.MEMBER))
    response = api.get("/api/v1/tenant/")
    assert response.status_code == 200
    assert not response.cookies
    # The role check still runs without a session: a member's key cannot create keys.
    assert api.post("/api/v1/api-keys/", {"name": "x"}, format="json").status_code == 403
    # A session still works on the API, cookies and all.
    assert client_for(tenant, user=owner).get("/api/v1/tenant/").json()["role"] == "owner"


def test_health_answers_before_tenancy_and_keys(client, tenant):
    for headers in (
        {"HTTP_HOST": "nobody.aipress.localhost"},
        {"HTTP_HOST": tenant.host, "HTTP_AUTHORIZATION": "Bearer aip_garbage_key"},
    ):
        response = client.get("/healthz", **headers)
        assert response.status_code == 200, response.content
        assert response.json() == {"status": "ok"}
        assert not response.cookies
    tenant.status = TenantStatus.SUSPENDED
    tenant.save()
    assert client.get("/readyz", HTTP_HOST=tenant.host).status_code == 200


def test_a_keys_use_is_queued_at_most_once_a_minute(tenant, api_key_for, django_capture_on_commit_callbacks):
    key = ApiKey.objects.get(key_hash=tokens.digest(api_key_for(tenant)))
    with django_capture_on_commit_callbacks() as first:
        services.api_key_touch(key)
    with django_capture_on_commit_callbacks() as again:
        services.api_key_touch(key)
        services.api_key_touch(key)
    assert (len(first), len(again)) == (1, 0)


@pytest.mark.django_db(transaction=True)
def test_a_keys_last_use_is_recorded_by_the_worker(make_tenant, api_key_for, platform, celery_worker_thread):
    tenant = make_tenant()
    raw = api_key_for(tenant)
    key = ApiKey.objects.get(key_hash=tokens.digest(raw))
    port = platform.rsplit(":", 1)[1]
    headers = {"Authorization": f"Bearer {raw}", "Host": tenant.host.split(":")[0]}
    assert httpx.get(f"http://127.0.0.1:{port}/api/v1/tenant/", headers=headers).status_code == 200
    wait_until(lambda: ApiKey.objects.get(pk=key.pk).last_used_at, timeout=20, what="the worker to record the use")
