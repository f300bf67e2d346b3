"""The chat page: a member's on the tenant's host, staff's on the public host, nobody else's."""

import pytest

from chat.messages import ChatScope
from chat.services import conversation_start
from tenants.audit import Actor
from tenants.models import Role
from tenants.tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_members_see_their_own_conversations_only(tenant, client_for, add_member):
    owner = tenant.memberships.get(role=Role.OWNER).user
    colleague = add_member(tenant, Role.MEMBER)
    mine = conversation_start(scope=ChatScope(tenant=tenant), actor=Actor.of_user(owner))
    page = client_for(tenant, user=owner).get("/chat/")
    assert page.status_code == 200
    assert f'href="?c={mine.pk}"' in page.content.decode()
    theirs = client_for(tenant, user=colleague).get("/chat/")
    assert theirs.status_code == 200 and f'href="?c={mine.pk}"' not in theirs.content.decode()


def test_the_public_host_chat_is_for_staff(tenant, client_for):
    owner = tenant.memberships.get(role=Role.OWNER).user
    assert client_for(None, user=owner).get("/chat/").status_code == 404
    staff_page = client_for(None, user=UserFactory(is_staff=True)).get("/chat/")
    assert staff_page.status_code == 200 and "Staff chat" in staff_page.content.decode()
    assert client_for(None).get("/chat/").status_code == 302  # sign in first


def test_outsiders_get_nothing_on_a_tenant_host(tenant, client_for):
    assert client_for(tenant, user=UserFactory()).get("/chat/").status_code == 404
