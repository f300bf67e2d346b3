"""Chat tests talk to the real turn loop, services and PostgreSQL schemas. Sites run on the in-memory
runtime here (the pipeline's logic is the same; the local runtime's own tests prove the rest), and
the test is the worker: it advances the operations a conversation queued."""

from collections.abc import Callable
from dataclasses import dataclass, field

import pytest
from django_tenants.utils import tenant_context

from chat import services
from chat.messages import ChatScope
from chat.models import Message
from chat.turns import TurnResult
from sites.models import Site
from sites.tests.memory_worker import memory_sites, work  # noqa: F401 - fixtures and helpers of chat's tests
from tenants.audit import Actor
from tenants.models import Tenant, User
from tenants.tests.test_browser import page  # noqa: F401 - the browser fixture, for test_chat_browser


def site_status(tenant: Tenant, name: str) -> str | None:
    with tenant_context(tenant):
        return Site.objects.exclude(status="deleted").filter(slug=name).values_list("status", flat=True).first()


@dataclass
class Chatter:
    """One person in one conversation, through the same services as the API and the socket."""

    scope: ChatScope
    actor: Actor
    conversation: int | None = None
    turns: list[TurnResult] = field(default_factory=list)

    def say(self, text: str) -> TurnResult:
        result = services.message_send(scope=self.scope, actor=self.actor, text=text, conversation_id=self.conversation)
        self.conversation = result.conversation
        self.turns.append(result)
        return result

    def decide(self, action_id: str, *, confirm: bool) -> TurnResult:
        assert self.conversation is not None
        return services.action_decide(
            scope=self.scope, actor=self.actor, conversation_id=self.conversation, action_id=action_id, confirm=confirm
        )

    def messages(self) -> list[Message]:
        from chat.messages import entered

        assert self.conversation is not None, "say something first"
        with entered(self.scope):
            return list(Message.objects.filter(conversation_id=self.conversation).order_by("id"))


@pytest.fixture
def chatter() -> Callable[..., Chatter]:
    def make(tenant: Tenant | None, user: User, actor: Actor | None = None) -> Chatter:
        return Chatter(scope=ChatScope(tenant=tenant), actor=actor or Actor.of_user(user))

    return make
