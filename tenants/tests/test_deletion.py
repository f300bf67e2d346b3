"""Deleting an organisation: staff only, typed confirmation, every site removed by its own delete
operation first, then the schema; never the schema alone."""

import pytest
from django.db import connection
from django_tenants.utils import schema_exists

from kernel.testing import wait_until
from sites.inventory.models import SiteRecord
from sites.runtimes import memory
from sites.tests.factories import requested_site
from tenants.models import AuditEvent, Tenant, TenantStatus
from tenants.tests.factories import UserFactory


@pytest.fixture
def in_memory(settings):
    settings.DRIVERS = {**settings.DRIVERS, "runtime": "memory"}
    memory.reset()
    yield
    memory.reset()


@pytest.mark.django_db(transaction=True)
def test_staff_delete_a_tenant_from_the_console_sites_first_then_its_schema(
    in_memory, make_tenant, client_for, celery_worker_thread
):
    tenant = make_tenant(slug="doomed")
    for name in ("blog", "shop"):
        requested_site(tenant, name)
    wait_until(lambda: set(SiteRecord.objects.filter(tenant=tenant).values_list("status", flat=True)) == {"ready"},
               what="both sites ready")  # fmt: skip
    staff = client_for(None, user=UserFactory(is_staff=True, is_superuser=True))
    url = "/admin/tenants/tenant/"
    asked = staff.post(url, {"action": "delete_tenant", "_selected_action": [tenant.pk]})
    assert "Type the organisation" in asked.content.decode()
    wrong = staff.post(
        url, {"action": "delete_tenant", "_selected_action": [tenant.pk], "apply": "1", "confirm": "nope"}
    )
    assert "address, doomed, to confirm" in wrong.content.decode()
    assert Tenant.objects.get(pk=tenant.pk).status == TenantStatus.ACTIVE
    staff.post(url, {"action": "delete_tenant", "_selected_action": [tenant.pk], "apply": "1", "confirm": "doomed"})
    wait_until(lambda: not Tenant.objects.filter(pk=tenant.pk).exists(), timeout=60, what="the tenant to be gone")
    # Every site's pieces were removed by its delete operation before the schema went.
    keys = {key for key, action, step, _ in memory.calls if action == "remove" and step == "database"}
    assert len(keys) == 2
    assert not schema_exists(tenant.schema_name)
    assert AuditEvent.objects.filter(action="tenant.deleted", tenant_slug="doomed").exists()
    assert not SiteRecord.objects.filter(slug__in=["blog", "shop"]).exists()


@pytest.mark.django_db
def test_only_staff_may_delete_and_the_admin_never_drops_a_schema_directly(tenant, owner, client_for):
    from kernel.errors import NotPermitted
    from tenants import services
    from tenants.audit import Actor

    with pytest.raises(NotPermitted):
        services.tenant_delete(actor=Actor.of_user(owner), tenant=tenant, confirm="acme")
    staff = client_for(None, user=UserFactory(is_staff=True, is_superuser=True))
    assert staff.get(f"/admin/tenants/tenant/{tenant.pk}/delete/").status_code == 403
    tenant.delete()  # deleting the row by any other path leaves the schema (and its sites) alone
    assert schema_exists(tenant.schema_name)
    with connection.cursor() as cursor:
        cursor.execute(f'DROP SCHEMA "{tenant.schema_name}" CASCADE')
