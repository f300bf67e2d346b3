"""The whole flow, for real: a WordPress site on the local runtime serves pages through nginx and
php-fpm; the meter reads its access log and sizes its files and MariaDB database into billing-export
rows (twice, and after a crash, without counting anything twice); the aggregation turns them into the
site's daily records that the API shows; a budget that suspends the site at 100% suspends it through
the pipeline, and raising the budget brings it back."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone
from django_tenants.utils import tenant_context

from billing import metering, services
from billing.aggregation import costs_aggregate
from billing.models import BudgetEnforcement, CostRecord, ExportRow, MeterCursor
from billing.tests.factories import cost
from kernel.testing import wait_until
from sites.inventory.models import SiteRecord
from sites.models import UNFINISHED_STATES, SiteOperation
from sites.runtimes.local import health
from sites.tests.test_api_sites import _finished
from tenants.audit import Actor
from tenants.models import AuditEvent, Role

pytestmark = pytest.mark.django_db(transaction=True)


def _requests() -> int:
    return int(ExportRow.objects.filter(sku_id="local-requests").aggregate(n=Sum("usage_amount"))["n"] or 0)


def _site(client, name: str) -> dict:
    return client.get(f"/api/v1/sites/{name}/").json()


def _idle(tenant) -> bool:
    """No operation of the tenant's sites is queued or running."""
    with tenant_context(tenant):
        return not SiteOperation.objects.filter(state__in=UNFINISHED_STATES).exists()


def _status(client, name: str) -> str:
    return _site(client, name)["status"]


def test_metered_from_the_sites_own_log_aggregated_shown_and_budgeted(api, monkeypatch):  # noqa: PLR0915 - one flow, end to end
    tenant, client = api
    created = client.post("/api/v1/sites/", {"name": "shop", "title": "Metered Shop"}, format="json")
    assert _finished(client, created, timeout=120)["state"] == "succeeded"
    record = SiteRecord.objects.get(tenant=tenant, slug="shop")
    hostname = record.hostname

    metering.meter_local_sites()  # what the install wrote so far; from here on every request counts
    before = _requests()
    sizes = []
    for _ in range(5):
        status, _, body = health.fetch(hostname, "/")
        assert status == 200 and b"Metered Shop" in body
        sizes.append(len(body))
    status, _, _ = health.fetch(hostname, "/no-such-page/")
    assert status == 404  # WordPress answers it: a request like any other

    # A crash after the rows were written but before the cursor moved: nothing is kept...
    def crash(self, *args, **kwargs):
        raise RuntimeError("worker killed")

    monkeypatch.setattr(MeterCursor, "save", crash)
    with pytest.raises(RuntimeError):
        metering.meter_site(record, now=timezone.now() + timedelta(minutes=15))
    monkeypatch.undo()
    assert _requests() == before
    # ...and the next run counts it exactly once; a run after that adds no request.
    metering.meter_site(record, now=timezone.now() + timedelta(minutes=15))
    metering.meter_site(record, now=timezone.now() + timedelta(minutes=16))
    assert _requests() == before + 6
    egress = ExportRow.objects.filter(sku_id="local-egress").aggregate(n=Sum("usage_amount"))["n"]
    assert egress >= sum(sizes)
    assert ExportRow.objects.filter(sku_id="local-php-time", usage_amount__gt=0).exists()  # PHP's own time
    disk = ExportRow.objects.filter(service_id="aipress-local-storage")
    assert disk.filter(sku_id="local-database", usage_amount__gt=0).exists()  # MariaDB's tables, sized
    assert disk.filter(sku_id="local-files", usage_amount__gt=0).exists()
    labels = ExportRow.objects.filter(site_label=str(record.site_id)).values_list("labels", flat=True).first()
    assert {"key": "aipress-tenant-id", "value": str(tenant.pk)} in labels

    today = timezone.now().date()
    costs_aggregate(start=today - timedelta(days=1), end=today + timedelta(days=1))
    shop = CostRecord.objects.filter(tenant=tenant, site_slug="shop")
    assert set(shop.values_list("service", flat=True)) >= {"Requests and traffic", "PHP compute", "Storage"}
    body = client.get(f"/api/v1/tenants/{tenant.slug}/billing", {"group_by": "site"}).json()
    assert body["rows"][0]["site"] == "shop" and Decimal(body["rows"][0]["net"]) > 0

    # A budget that suspends the site at 100%: spent, suspended through the pipeline, audited.
    owner = Actor.of_user(tenant.memberships.get(role=Role.OWNER).user)
    services.budget_set(tenant=tenant, actor=owner, amount="5", site="shop", action="suspend")
    cost(tenant, today, "6.00", site=(record.site_id, "shop"), service="Cloud Run")
    assert services.budgets_evaluate().enforced == 1
    assert services.budgets_evaluate().enforced == 0  # once a month
    wait_until(lambda: _status(client, "shop") == "suspended" and _idle(tenant), timeout=60, what="the suspension")
    status, _, body = health.fetch(hostname, "/")
    assert status == 503
    assert AuditEvent.objects.filter(tenant=tenant, action="billing.budget.suspend", target="shop").exists()
    # Raised above what was spent: resumed at once, through the pipeline again.
    services.budget_set(tenant=tenant, actor=owner, amount="50", site="shop", action="suspend")
    wait_until(lambda: _status(client, "shop") == "ready" and _idle(tenant), timeout=60, what="the site to be resumed")
    assert BudgetEnforcement.objects.get(tenant=tenant, site_id=record.site_id).undone_at is not None
    status, _, body = health.fetch(hostname, "/")
    assert status == 200 and b"Metered Shop" in body

    # Next month, a budget that caps: one PHP worker until the month turns, then the old scaling back.
    services.budget_set(tenant=tenant, actor=owner, amount="5", site="shop", action="cap")
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    cost(tenant, next_month, "7.00", site=(record.site_id, "shop"), service="Cloud Run")
    assert services.budgets_evaluate(today=next_month).enforced == 1
    wait_until(lambda: _idle(tenant), timeout=60, what="the cap to be applied")
    assert _site(client, "shop")["scaling"]["max_php_workers"] == 1
    month_after = (next_month + timedelta(days=32)).replace(day=1)
    assert services.budgets_undo_due(today=month_after) == 1
    # The record says 4 at once; the operation that gives the pool its workers back runs on the worker.
    # Wait for it: a test that ends while it runs would leave its pool behind for the next tests.
    wait_until(lambda: _idle(tenant), timeout=60, what="the scaling to be restored")
    assert _site(client, "shop")["scaling"]["max_php_workers"] == 4
    assert AuditEvent.objects.filter(tenant=tenant, action="billing.budget.cap.undone").exists()
