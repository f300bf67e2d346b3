"""The domain tools through the turn loop, as a member and as staff: the records to create come back
in the chat, removal waits for confirmation, and another tenant's domain is never reached."""

import pytest

from chat.tests.conftest import work
from dns import services as domain_services
from dns.models import CustomDomain
from sites.tests.factories import requested_site
from tenants.audit import Actor
from tenants.models import Role
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def no_background_checks(monkeypatch):
    monkeypatch.setattr(domain_services, "_kick", lambda domain_id: None)


@pytest.fixture
def acme(make_tenant, memory_sites):
    tenant = make_tenant(slug="acme")
    requested_site(tenant, "shop")
    work(tenant)
    return tenant


def test_a_member_adds_a_domain_reads_its_status_and_removes_it_after_confirming(acme, chatter):
    me = chatter(acme, acme.memberships.get(role=Role.OWNER).user)
    added = me.say("add the domain www.their-shop.test to shop")
    assert [(c["name"], c["status"]) for c in added.tool_calls] == [("add_domain", "succeeded")]
    token = CustomDomain.objects.get(hostname="www.their-shop.test").token
    reply = added.tool_calls[0]["result"]["message"]
    assert f"TXT _aipress-challenge.www.their-shop.test → {token}" in reply
    assert "CNAME www.their-shop.test → shop--acme.sites.localhost" in reply

    status = me.say("is www.their-shop.test verified?")
    assert status.tool_calls[0]["name"] == "domain_status"
    assert "is pending" in status.tool_calls[0]["result"]["message"]

    asked = me.say("remove www.their-shop.test")
    assert asked.tool_calls == [] and asked.pending_confirmation is not None
    assert "www.their-shop.test" in asked.pending_confirmation["summary"]
    assert CustomDomain.objects.filter(hostname="www.their-shop.test").exists()
    done = me.decide(asked.pending_confirmation["action_id"], confirm=True)
    assert [(c["name"], c["status"]) for c in done.tool_calls] == [("remove_domain", "succeeded")]
    assert not CustomDomain.objects.exists()


def test_another_tenants_domain_is_out_of_reach(acme, chatter, make_tenant, memory_sites):
    globex = make_tenant(slug="globex")
    requested_site(globex, "main")
    work(globex)
    owner = globex.memberships.get(role=Role.OWNER).user
    domain_services.domain_add(tenant=globex, actor=Actor.of_user(owner), site="main", domain="www.globex.test")
    me = chatter(acme, acme.memberships.get(role=Role.OWNER).user)
    status = me.say("status of www.globex.test")
    assert status.tool_calls[0]["status"] == "failed"
    assert "No domain www.globex.test" in status.tool_calls[0]["result"]["message"]
    named = me.say("remove the domain www.globex.test for globex")
    assert named.tool_calls == [] and named.pending_confirmation is None
    asked = me.say("remove www.globex.test")
    done = me.decide(asked.pending_confirmation["action_id"], confirm=True)
    assert done.tool_calls[0]["status"] == "failed"
    taken = me.say("add www.globex.test to shop")
    assert taken.tool_calls[0]["status"] == "failed" and "taken" in taken.tool_calls[0]["result"]["message"]
    assert CustomDomain.objects.get(hostname="www.globex.test").tenant == globex


def test_staff_name_the_tenant(acme, chatter):
    me = chatter(None, UserFactory(is_staff=True))
    added = me.say("add www.their-shop.test to shop for acme")
    assert [(c["name"], c["status"]) for c in added.tool_calls] == [("add_domain", "succeeded")]
    assert CustomDomain.objects.get(hostname="www.their-shop.test").tenant == acme
