"""Who may chat where, and what a proposed tool call may name: one check for the API, the socket,
the portal and the MCP server (which serves the same tools to other clients)."""

from typing import Any

from chat.messages import ChatScope
from chat.tools import TENANT_ARGUMENT, Tool
from kernel.errors import InvalidInput, NotFound, NotPermitted, ServiceError
from sites import selectors as site_selectors
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


def call_arguments(tool: Tool, arguments: dict[str, Any], *, scope: ChatScope, actor: Actor) -> dict[str, Any]:
    """The arguments of a proposed call, checked against the registry: empty values dropped, and
    refused (a ServiceError, nothing run) when a member names another tenant or the call names an
    argument the tool does not take. A member's own tenant, named, is dropped: it is implied."""
    arguments = {key: value for key, value in arguments.items() if value not in (None, "")}
    if not scope.staff and TENANT_ARGUMENT in arguments:
        own = scope.tenant.slug if scope.tenant is not None else ""
        named = str(arguments.pop(TENANT_ARGUMENT)).strip().lower()
        if named != own and not _own_site_named(tool, named, scope=scope, actor=actor):
            raise NotPermitted(f"I can only act in your own organisation, {own}: nothing was done in “{named}”.")
    allowed = tool.parameters(staff=scope.staff)
    unknown = sorted(set(arguments) - set(allowed["properties"]))
    if unknown:
        raise InvalidInput(f"{tool.name} takes no {', '.join(unknown)}: nothing was done.")
    return arguments


def _own_site_named(tool: Tool, named: str, *, scope: ChatScope, actor: Actor) -> bool:
    """ "how much did blog cost?": a member's own site, read as a name of an organisation by a tool
    that takes no site (tenant_costs answers per site anyway). Not another tenant, not refused."""
    tenant = scope.tenant
    if tenant is None or "site" in tool.properties:
        return False
    try:
        names = {site.slug for site in site_selectors.site_list(tenant=tenant, actor=actor)}
    except ServiceError:
        return False
    return named in names


def call_tenant(arguments: dict[str, Any], *, scope: ChatScope) -> Tenant:
    """The tenant a call acts in: a member's own; the one a staff call names (NotFound if none)."""
    if scope.tenant is not None:
        return scope.tenant
    slug = str(arguments.get(TENANT_ARGUMENT, "")).strip().lower()
    tenant = Tenant.objects.filter(slug=slug).first()
    if tenant is None:
        raise NotFound(f"There is no organisation “{slug}”.")
    return tenant
