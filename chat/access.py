"""Who may chat where: one check for the API, the socket and the portal."""

from chat.messages import ChatScope
from kernel.errors import NotFound, NotPermitted
from tenants.audit import Actor
from tenants.models import Tenant, TenantStatus
from tenants.roles import role_of


def chat_user_id(actor: Actor) -> int:
    """The person a conversation belongs to (through a key: the key's creator)."""
    if actor.user is None:
        raise NotPermitted("Sign in to talk to the assistant.")
    return actor.user.pk


def require_chat_access(*, scope: ChatScope, actor: Actor) -> None:
    """Members of the tenant chat on its host (any role: what they may change is checked per tool);
    staff chat on the public host. Anyone else: nothing here."""
    if actor.user is None:
        raise NotPermitted("Sign in to talk to the assistant.")
    if scope.tenant is None:
        if not actor.is_staff:
            raise NotFound("No such organisation here.")
        return
    if role_of(actor, scope.tenant) is None:
        raise NotFound("No such organisation here.")
    # Read now, not from the scope: a socket opened before a suspension must not chat past it.
    status = Tenant.objects.filter(pk=scope.tenant.pk).values_list("status", flat=True).first()
    if status in (TenantStatus.SUSPENDED, TenantStatus.DELETING):
        raise NotPermitted(f"The organisation “{scope.tenant.name}” is {status}: the assistant is not available.")
