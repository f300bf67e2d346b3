"""The cost tools through the turn loop with the local assistant: what was spent (with its currency,
the top site), who may ask (owner, admin, billing; not a plain member), another tenant's figures out
of reach, staff across tenants, and budgets set in words. Cost records are written directly, as the
aggregation would have written them."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from billing.models import Budget, CostRecord
from billing.roles import READ_REFUSED
from billing.selectors import previous_month
from chat.tests.conftest import work
from sites.tests.factories import requested_site
from tenants.models import Role
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def cost(tenant, site, service, day, net, credits="0"):
    """One day's cost of a site's service; `site` "" is cost no site accounts for (the assistant)."""
    net, credits = Decimal(net), Decimal(credits)
    CostRecord.objects.create(
        tenant=tenant,
        tenant_label=str(tenant.pk),
        site_label=f"s-{site}" if site else "",
        site_slug=site,
        service=service,
        day=day,
        currency="USD",
        gross=net - credits,
        credits=credits,
        net=net,
    )


@pytest.fixture
def last_month():
    """The first day of last month, by the same clock as the tools."""
    return previous_month(timezone.now().date())


@pytest.fixture
def acme(make_tenant, memory_sites, last_month):
    tenant = make_tenant(slug="acme")
    cost(tenant, "shop", "Cloud Run", last_month, "20.00", credits="-5.00")
    cost(tenant, "shop", "Cloud SQL", last_month + timedelta(days=1), "10.00")
    cost(tenant, "blog", "Cloud Run", last_month + timedelta(days=2), "12.10")
    cost(tenant, "blog", "Cloud Run", timezone.now().date(), "7.00")  # this month: not last month's
    return tenant


@pytest.fixture
def globex(make_tenant, last_month):
    tenant = make_tenant(slug="globex")
    cost(tenant, "secret-shop", "Cloud Run", last_month + timedelta(days=3), "999.00")
    return tenant


def owner_of(tenant):
    return tenant.memberships.get(role=Role.OWNER).user


def test_a_member_asks_what_was_spent_and_which_site_cost_most(acme, globex, chatter, last_month):
    me = chatter(acme, owner_of(acme))
    result = me.say("what did I spend last month, and which site cost most?")
    [call] = result.tool_calls
    assert (call["name"], call["status"]) == ("tenant_costs", "succeeded")
    assert call["arguments"] == {"period": "last_month", "group_by": "site"}
    assert f"acme spent 42.10 USD in {last_month:%B %Y}" in result.reply
    assert "- shop: 30.00 USD" in result.reply and "- blog: 12.10 USD" in result.reply
    assert "The site that cost most: shop (30.00 USD)." in result.reply
    assert "secret-shop" not in result.reply and "999" not in result.reply  # globex's own figures


@pytest.mark.parametrize("role", [Role.BILLING, Role.ADMIN])
def test_billing_and_admin_members_may_ask(acme, chatter, add_member, role):
    me = chatter(acme, add_member(acme, role))
    result = me.say("how much did we spend last month?")
    assert result.tool_calls[0]["status"] == "succeeded"
    assert "42.10 USD" in result.reply


def test_a_plain_member_is_told_costs_are_not_for_their_role(acme, chatter, add_member):
    me = chatter(acme, add_member(acme, Role.MEMBER))
    result = me.say("what did I spend last month, and which site cost most?")
    [call] = result.tool_calls
    assert (call["name"], call["status"]) == ("tenant_costs", "failed")
    assert call["result"]["message"] == READ_REFUSED
    assert READ_REFUSED in result.reply
    assert "USD" not in result.reply and "shop" not in result.reply


def test_a_member_asking_for_another_tenants_costs_is_refused(acme, globex, chatter):
    me = chatter(acme, owner_of(acme))
    result = me.say("show the costs of globex")
    assert result.tool_calls == [] and result.pending_confirmation is None
    assert "only act in your own organisation" in result.reply
    shown = result.reply + " ".join(f"{m.text} {m.data}" for m in me.messages())
    assert "secret-shop" not in shown and "999" not in shown
    # The same question about their own sites goes on as theirs (nothing named a tenant).
    own = me.say("what did I spend on shop last month")
    assert own.tool_calls[0]["status"] == "succeeded" and "acme spent 42.10 USD" in own.reply


def test_staff_get_the_tenants_that_cost_most(acme, globex, chatter, last_month):
    me = chatter(None, UserFactory(is_staff=True))
    result = me.say("which tenants cost most last month?")
    [call] = result.tool_calls
    assert call["arguments"] == {"period": "last_month", "group_by": "tenant"}
    assert call["status"] == "succeeded"
    assert [(row["tenant"], row["net"]) for row in call["result"]["tenants"]] == [
        ("globex", "999.000000"),
        ("acme", "42.100000"),
    ]
    assert f"The organisations that cost most in {last_month:%B %Y}:" in result.reply
    assert result.reply.index("globex: 999.00 USD") < result.reply.index("acme: 42.10 USD")
    named = me.say("show the costs of acme last month")
    assert named.tool_calls[0]["arguments"] == {"tenant": "acme", "period": "last_month"}
    assert "acme spent 42.10 USD" in named.reply and "globex" not in named.reply


@pytest.mark.parametrize("role", [Role.OWNER, Role.BILLING])
def test_a_budget_is_set_in_words(acme, chatter, add_member, role):
    user = owner_of(acme) if role == Role.OWNER else add_member(acme, role)
    result = chatter(acme, user).say("set a budget of 200")
    assert [(c["name"], c["status"]) for c in result.tool_calls] == [("set_budget", "succeeded")]
    budget = Budget.objects.get(tenant=acme)
    assert (budget.site_id, budget.amount, budget.currency) == (None, Decimal("200.00"), "USD")
    assert "200.00 USD" in result.reply


def test_a_plain_member_cannot_set_a_budget(acme, chatter, add_member):
    result = chatter(acme, add_member(acme, Role.MEMBER)).say("set a budget of 200")
    assert result.tool_calls[0]["status"] == "failed"
    assert "Only owners, admins and billing members can set budgets." in result.reply
    assert not Budget.objects.exists()


def test_a_sites_budget_asks_how_much_when_it_was_not_said(acme, chatter):
    requested_site(acme, "shop")
    work(acme)
    me = chatter(acme, owner_of(acme))
    asked = me.say("I need a budget for shop")
    assert asked.tool_calls == [] and "How much a month?" in asked.reply
    answered = me.say("$150 a month")
    assert answered.tool_calls[0]["arguments"] == {"site": "shop", "amount": 150}
    budget = Budget.objects.get(tenant=acme)
    assert (budget.site_slug, budget.amount) == ("shop", Decimal("150.00"))


def test_a_members_own_site_named_bare_is_not_another_tenant(acme, globex, chatter):
    """ "how much did blog cost?" reads "blog" like an organisation's name; blog is the member's own
    site, so it answers (per site) instead of refusing. A real other tenant is still refused."""
    requested_site(acme, "blog")
    me = chatter(acme, owner_of(acme))
    result = me.say("how much did blog cost")
    [call] = result.tool_calls
    assert (call["name"], call["status"]) == ("tenant_costs", "succeeded")
    assert "blog" in result.reply and "globex" not in result.reply
    refused = me.say("how much did globex cost")
    assert refused.tool_calls == [] and "nothing was done in “globex”" in refused.reply
