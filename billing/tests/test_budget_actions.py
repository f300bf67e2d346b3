"""What a site's budget does at 100%, on the in-memory runtime with the test as the worker (the real
pipeline and services; the local runtime's flow is test_costs_flow): it acts once per amount and
month, acts again when a raised budget is overspent, is undone by a raise but never for a suspended
organisation or before its own operation has landed, and only owners and admins steer it."""

from datetime import date
from decimal import Decimal

import pytest
from django_tenants.utils import tenant_context

from billing import services
from billing.models import Budget, BudgetAction, BudgetEnforcement
from billing.tests.factories import cost
from kernel.errors import NotPermitted
from sites.models import Site
from sites.tests.factories import requested_site
from sites.tests.memory_worker import memory_sites, work  # noqa: F401 - the in-memory runtime's fixture
from tenants import services as tenant_services
from tenants.audit import Actor
from tenants.models import Role

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = date(2026, 10, 20)


@pytest.fixture
def shop(tenant, memory_sites):  # noqa: F811 - the fixture imported above
    site = requested_site(tenant, "shop")
    work(tenant)
    return tenant, site


def _site(tenant, pk) -> Site:
    with tenant_context(tenant):
        return Site.objects.get(pk=pk)


def _owner(tenant) -> Actor:
    return Actor.of_user(tenant.memberships.get(role=Role.OWNER).user)


def test_suspend_at_100_undo_on_raise_and_act_again_when_the_raised_budget_is_spent(shop):
    tenant, site = shop
    services.budget_set(tenant=tenant, actor=_owner(tenant), amount="10", site="shop", action="suspend")
    cost(tenant, TODAY, "12.00", site=(site.pk, "shop"))
    assert services.budgets_evaluate(today=TODAY).enforced == 1
    # Raised before the worker ran the suspension: the undo waits for it to land (not lost).
    services.budget_set(tenant=tenant, actor=_owner(tenant), amount="20", site="shop")
    assert BudgetEnforcement.objects.get().undone_at is None
    work(tenant)
    assert _site(tenant, site.pk).status == "suspended"
    assert services.budgets_undo_due(today=TODAY) == 1
    work(tenant)
    assert _site(tenant, site.pk).status == "ready"
    # The raised budget is kept as it was told (the action stayed "suspend"), and spent again: acts again.
    assert Budget.objects.get(site_id=site.pk).action == BudgetAction.SUSPEND
    cost(tenant, date(2026, 10, 19), "9.00", site=(site.pk, "shop"))
    assert services.budgets_evaluate(today=TODAY).enforced == 1
    work(tenant)
    assert _site(tenant, site.pk).status == "suspended"
    assert BudgetEnforcement.objects.filter(site_id=site.pk).count() == 2


def test_a_suspended_organisation_is_not_brought_back_by_the_month_turning(shop):
    tenant, site = shop
    services.budget_set(tenant=tenant, actor=_owner(tenant), amount="10", site="shop", action="suspend")
    cost(tenant, TODAY, "12.00", site=(site.pk, "shop"))
    services.budgets_evaluate(today=TODAY)
    work(tenant)
    tenant_services.tenant_suspend(actor=Actor.system("staff"), tenant=tenant, reason="abuse")
    tenant.refresh_from_db()
    assert services.budgets_undo_due(today=date(2026, 11, 1)) == 0
    work(tenant)
    assert _site(tenant, site.pk).status == "suspended"
    assert BudgetEnforcement.objects.get().undone_at is None  # undone once the organisation is back


def test_only_owners_and_admins_steer_a_budget_that_acts(shop, add_member, api_key_for):
    tenant, site = shop
    services.budget_set(tenant=tenant, actor=_owner(tenant), amount="10", site="shop", action="cap")
    billing = Actor.of_user(add_member(tenant, Role.BILLING))
    for change in (
        lambda: services.budget_set(tenant=tenant, actor=billing, amount="500", site="shop"),  # would lift it
        lambda: services.budget_set(tenant=tenant, actor=billing, amount="10", site="shop", action="notify"),
        lambda: services.budget_remove(tenant=tenant, actor=billing, site="shop"),
    ):
        with pytest.raises(NotPermitted):
            change()
    budget = Budget.objects.get(site_id=site.pk)
    assert (budget.amount, budget.action) == (Decimal("10.00"), BudgetAction.CAP)
    # The organisation's own budget (it never acts) stays a billing member's to set and remove, and
    # removing it lifts no site's cap.
    services.budget_set(tenant=tenant, actor=billing, amount="300")
    cost(tenant, TODAY, "12.00", site=(site.pk, "shop"))
    services.budgets_evaluate(today=TODAY)
    work(tenant)
    assert _site(tenant, site.pk).max_php_workers == 1
    services.budget_remove(tenant=tenant, actor=billing)
    assert BudgetEnforcement.objects.get().undone_at is None
    assert services.budgets_undo_due(today=TODAY) == 0
    # Month turned: the scaling it had comes back.
    assert services.budgets_undo_due(today=date(2026, 11, 1)) == 1
    work(tenant)
    assert _site(tenant, site.pk).max_php_workers == 4


def test_a_key_needs_a_costs_role_both_in_itself_and_in_its_creator(shop, add_member, client_for):
    """Roles are no ladder here: billing sees costs, member does not. An admin's billing key stops at
    costs when its creator is demoted to member; a member's key never reads costs."""
    tenant, _ = shop
    admin = add_member(tenant, Role.ADMIN)
    _, raw = tenant_services.api_key_create(actor=Actor.of_user(admin), tenant=tenant, name="books", role=Role.BILLING)
    client = client_for(tenant, key=raw)
    url = f"/api/v1/tenants/{tenant.slug}/billing"
    assert client.get(url).status_code == 200
    demoted = tenant.memberships.get(user=admin)
    demoted.role = Role.MEMBER
    demoted.save()
    assert client.get(url).status_code == 403
    assert client.put(f"/api/v1/tenants/{tenant.slug}/budget", {"amount": 5}, format="json").status_code == 403
