"""The tools: every action the assistant may take, described once.

Each tool has a fixed name, a description, the JSON Schema of its arguments, what it does to the
platform (only looks, destroys, idempotent), whether it waits for the person's confirmation, and a
call into the services as the acting user. Gemini's function declarations, the local interpreter's
targets, the API documentation (docs/chat.md, the `chat tools` command) and the MCP server's tools
(mcpserver, docs/mcp.md) are all generated from this registry. Later issues add their tools here.

In a staff conversation every tool but `help` also takes `tenant` (the slug). In a member's
conversation there is no `tenant` argument at all: the tenant is the conversation's own, and a call
that names one is refused before anything runs.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chat import tools_costs
from dns import selectors as domain_selectors
from dns import services as domain_services
from kernel.errors import InvalidInput, ServiceError
from sites import selectors as site_selectors
from sites import services as site_services
from sites.models import SiteOperation, SiteStatus
from sites.services_urls import site_url_for
from tenants.audit import Actor, audit_record
from tenants.models import ApiKey, Tenant

logger = logging.getLogger(__name__)

TENANT_ARGUMENT = "tenant"
SITE_STATUSES = [status.value for status in SiteStatus if status != SiteStatus.DELETED]


@dataclass(frozen=True)
class ToolContext:
    """Who calls, and in which tenant (a member's own, or the one a staff member named)."""

    tenant: Tenant
    actor: Actor


@dataclass(frozen=True)
class ToolResult:
    """What a call did, for the person (`message`, plain words) and for the model (`data`)."""

    message: str
    data: dict[str, Any]
    # The operation the call queued, when it did: the conversation follows its progress.
    operation: SiteOperation | None = None
    site: str = ""


Runner = Callable[[ToolContext, dict[str, Any]], ToolResult]


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    properties: dict[str, dict[str, Any]]  # argument name -> JSON Schema
    required: tuple[str, ...]
    run: Runner
    # What a call does to the platform, said by every tool (no defaults): the MCP server publishes
    # them as its tools' annotations (readOnlyHint, destructiveHint, idempotentHint). Hints for
    # clients only: nothing relies on a client honouring them (read keys, confirmations are ours).
    read_only: bool  # only looks
    destructive: bool  # may remove or overwrite something (false: only adds)
    idempotent: bool  # the same call again changes nothing more
    confirm: bool = False  # destroys something: the person in the chat confirms first
    # Makes something that is billed from then on (a site). The chat acts on the request it was
    # given; a door with nobody at the keyboard (MCP) confirms it first, like anything destructive.
    paid: bool = False
    # The question the assistant asks for each missing argument.
    questions: tuple[tuple[str, str], ...] = ()
    # Staff may call it without naming a tenant: it then answers across tenants (this runner).
    run_across: Callable[[Actor, dict[str, Any]], "ToolResult"] | None = None

    def parameters(self, *, staff: bool) -> dict[str, Any]:
        """The JSON Schema of the arguments, in the shape Gemini's function declarations take."""
        properties = dict(self.properties)
        required = list(self.required)
        if staff and self.name != "help":
            properties[TENANT_ARGUMENT] = {
                "type": "string",
                "description": "The slug of the organisation (tenant) to act in.",
            }
            if self.run_across is None:
                required.insert(0, TENANT_ARGUMENT)
        return {"type": "object", "properties": properties, "required": required}

    def question(self, argument: str, arguments: dict[str, Any]) -> str:
        for name, text in self.questions:
            if name == argument:
                return text.format(**{key: arguments.get(key, "") for key in self.properties} | arguments)
        if argument == TENANT_ARGUMENT:
            return "Which organisation (tenant slug) do you mean?"
        return f"What {argument.replace('_', ' ')} should I use?"

    @property
    def asks_first(self) -> bool:
        """Confirmed before it acts by a door where a program calls the tools (MCP): destructive or paid."""
        return self.confirm or self.destructive or self.paid

    def summary(self, arguments: dict[str, Any]) -> str:  # noqa: PLR0911 - one sentence per tool
        """One line that says what a confirmed call will do (never a value it would set)."""
        where = f" of {arguments[TENANT_ARGUMENT]}" if arguments.get(TENANT_ARGUMENT) else ""
        site = arguments.get("site", "")
        if self.name == "delete_site":
            return f"Delete the site “{site}”{where} and everything in it (files, database, uploads)?"
        if self.name == "suspend_site":
            return f"Suspend the site “{site}”{where}? Visitors see a “suspended” page until you resume it."
        if self.name == "remove_domain":
            return f"Remove the domain {arguments.get('domain', '')}{where}? The site stops answering on it."
        if self.name == "create_site":
            return f"Create the site “{site}”{where}, titled “{arguments.get('title', '')}”? It is billed from now on."
        if self.name == "set_env_var":
            return f"Set {arguments.get('key', '')} on “{site}”{where}? It replaces any value it has now."
        if self.name == "unset_env_var":
            return f"Remove {arguments.get('key', '')} from “{site}”{where}?"
        if self.name == "set_budget":
            of = f"“{site}”" if site else "the organisation"
            return f"Set the monthly budget of {of}{where} to {arguments.get('amount', '')}?"
        return f"Run {self.name}{where}?"


# --- What the tools say about sites -------------------------------------------------------------


def _site_url(context: ToolContext, name: str) -> str:
    return site_url_for(site_services.site_hostname(context.tenant, name))


def _site_data(context: ToolContext, site: Any) -> dict[str, Any]:
    return {
        "name": site.slug,
        "title": site.title,
        "status": site.status,
        "url": _site_url(context, site.slug),
        "last_error": site.last_error[:300] if site.status == SiteStatus.FAILED else "",
    }


def _operation_data(operation: SiteOperation) -> dict[str, Any]:
    return {"id": operation.pk, "kind": operation.kind, "state": operation.state, "steps": operation.steps_total}


def _queued(context: ToolContext, site: str, operation: SiteOperation, message: str) -> ToolResult:
    data = {"site": site, "operation": _operation_data(operation), "url": _site_url(context, site)}
    return ToolResult(message=message, data=data, operation=operation, site=site)


def _text(value: Any, argument: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput(f"Give the {argument.replace('_', ' ')}.", field=argument)
    return value.strip()


# --- The tools ----------------------------------------------------------------------------------


def list_sites(context: ToolContext, arguments: dict[str, Any]) -> ToolResult:
    status = arguments.get("status")
    if status is not None and status not in SITE_STATUSES:
        raise InvalidInput(f"A site's status is one of {', '.join(SITE_STATUSES)}.", field="status")
    sites = site_selectors.site_list(tenant=context.tenant, actor=context.actor)
    shown = [_site_data(context, site) for site in sites if status is None or site.status == status]
    which = f"{status} " if status else ""
    if not shown:
        message = f"{context.tenant.slug} has no {which}sites."
    else:
        lines = [f"- {site['name']} ({site['status']}): {site['url']}" for site in shown]
        message = f"{context.tenant.slug} has {len(shown)} {which}site{'s' if len(shown) != 1 else ''}:\n" + "\n".join(
            lines
        )
    return ToolResult(message=message, data={"tenant": context.tenant.slug, "sites": shown})


def site_status(context: ToolContext, arguments: dict[str, Any]) -> ToolResult:
    name = _text(arguments.get("site"), "site")
    site = site_selectors.site_get(tenant=context.tenant, actor=context.actor, name=name)
    data = _site_data(context, site)
    message = f"“{site.slug}” ({site.title}) is {site.status}: {data['url']}"
    if data["last_error"]:
        message += f"\nLast error: {data['last_error']}"
    return ToolResult(message=message, data=data, site=site.slug)


def create_site(context: ToolContext, arguments: dict[str, Any]) -> ToolResult:
    name = _text(arguments.get("site"), "site")
    title = _text(arguments.get("title"), "title")
    site, operation, _password = site_services.site_request(
        tenant=context.tenant, actor=context.actor, name=name, title=title
    )
    # The WordPress admin password is not repeated in a conversation (which is kept): the person
    # signs in to WordPress through the portal's "reset password" or the API's one-time answer.
    return _queued(context, site.slug, operation, f"Creating “{site.slug}” ({site.title}).")


def delete_site(context: ToolContext, arguments: dict[str, Any]) -> ToolResult:
    name = _text(arguments.get("site"), "site")
    operation = site_services.site_delete(tenant=context.tenant, actor=context.actor, name=name)
    return _queued(context, operation.site.slug, operation, f"Deleting “{operation.site.slug}”.")


def suspend_site(context: ToolContext, arguments: dict[str, Any]) -> ToolResult:
    name = _text(arguments.get("site"), "site")
    operation = site_services.site_suspend(tenant=context.tenant, actor=context.actor, name=name)
    return _queued(context, operation.site.slug, operation, f"Suspending “{operation.site.slug}”.")


def resume_site(context: ToolContext, arguments: dict[str, Any]) -> ToolResult:
    name = _text(arguments.get("site"), "site")
    operation = site_services.site_resume(tenant=context.tenant, actor=context.actor, name=name)
    return _queued(context, operation.site.slug, operation, f"Resuming “{operation.site.slug}”.")


def set_env_var(context: ToolContext, arguments: dict[str, Any]) -> ToolResult:
    name = _text(arguments.get("site"), "site")
    key = _text(arguments.get("key"), "key")
    value = arguments.get("value")
    if not isinstance(value, str):
        raise InvalidInput("Give the value as text.", field="value")
    sensitive = arguments.get("sensitive", False)
    if not isinstance(sensitive, bool):
        raise InvalidInput("sensitive is true or false.", field="sensitive")
    var, operation = site_services.env_set(
        tenant=context.tenant, actor=context.actor, name=name, key=key, value=value, sensitive=sensitive
    )
    shown = "(sensitive: hidden from now on)" if var.sensitive else ""
    return _queued(
        context, operation.site.slug, operation, f"Set {var.name} on “{operation.site.slug}” {shown}".strip()
    )


def unset_env_var(context: ToolContext, arguments: dict[str, Any]) -> ToolResult:
    name = _text(arguments.get("site"), "site")
    key = _text(arguments.get("key"), "key")
    operation = site_services.env_delete(tenant=context.tenant, actor=context.actor, name=name, key=key)
    return _queued(context, operation.site.slug, operation, f"Removed {key} from “{operation.site.slug}”.")


def list_env_vars(context: ToolContext, arguments: dict[str, Any]) -> ToolResult:
    name = _text(arguments.get("site"), "site")
    pairs = site_selectors.site_env_vars(tenant=context.tenant, actor=context.actor, name=name)
    variables = [{"key": var.name, "value": shown, "sensitive": var.sensitive} for var, shown in pairs]
    if not variables:
        message = f"“{name}” has no env vars."
    else:
        message = f"Env vars of “{name}”:\n" + "\n".join(f"- {v['key']} = {v['value']}" for v in variables)
    return ToolResult(message=message, data={"site": name, "env": variables}, site=name)


def purge_cache(context: ToolContext, arguments: dict[str, Any]) -> ToolResult:
    name = _text(arguments.get("site"), "site")
    purge = site_services.site_cache_purge(tenant=context.tenant, actor=context.actor, name=name)
    message = f"Emptied the page cache of “{purge.site}”: visitors get freshly made pages from now on."
    if not purge.finished:
        message += " The CDN's copies follow in a moment."
    data = {"site": purge.site, "origin": purge.origin, "edge": purge.edge}
    return ToolResult(message=message, data=data, site=purge.site)


def _domain_data(context: ToolContext, domain: Any) -> dict[str, Any]:
    site = site_selectors.site_get(tenant=context.tenant, actor=context.actor, name=domain.site_slug)
    records = domain_selectors.records_for(domain, runtime=site.runtime)
    return {
        "domain": domain.hostname,
        "site": domain.site_slug,
        "status": domain.status,
        "ownership": domain.ownership,
        "dns": domain.dns,
        "certificate": domain.certificate,
        "reason": domain.reason,
        "records": [vars(record) for record in records],
    }


def _records_text(data: dict[str, Any]) -> str:
    return "\n".join(f"- {r['type']} {r['name']} → {r['value']} ({r['purpose']})" for r in data["records"])


def add_domain(context: ToolContext, arguments: dict[str, Any]) -> ToolResult:
    name = _text(arguments.get("site"), "site")
    domain = domain_services.domain_add(
        tenant=context.tenant, actor=context.actor, site=name, domain=_text(arguments.get("domain"), "domain")
    )
    data = _domain_data(context, domain)
    message = (
        f"Added {domain.hostname} to “{domain.site_slug}”. Create these records at the domain's DNS host; "
        f"I check them in the background and the site answers on it once they are right:\n{_records_text(data)}"
    )
    return ToolResult(message=message, data=data, site=domain.site_slug)


def remove_domain(context: ToolContext, arguments: dict[str, Any]) -> ToolResult:
    hostname = _text(arguments.get("domain"), "domain")
    site = domain_services.domain_remove(tenant=context.tenant, actor=context.actor, domain=hostname)
    return ToolResult(
        message=f"Removed {hostname.lower()} from “{site}”: the site no longer answers on it.",
        data={"domain": hostname.lower(), "site": site},
        site=site,
    )


def domain_status(context: ToolContext, arguments: dict[str, Any]) -> ToolResult:
    hostname = _text(arguments.get("domain"), "domain")
    domain = domain_selectors.domain_get(tenant=context.tenant, actor=context.actor, domain=hostname)
    data = _domain_data(context, domain)
    lines = [
        f"{domain.hostname} (on “{domain.site_slug}”) is {domain.status}.",
        f"Ownership: {domain.get_ownership_display()}. DNS: {domain.get_dns_display()}. "
        f"Certificate: {domain.get_certificate_display()}.",
    ]
    if domain.reason:
        lines.append(domain.reason)
    if domain.status != "active":
        lines.append("The records it needs:\n" + _records_text(data))
    return ToolResult(message="\n".join(lines), data=data, site=domain.site_slug)


def help_tool(context: ToolContext, arguments: dict[str, Any]) -> ToolResult:
    lines = [f"- {tool.name}: {tool.description}" for tool in REGISTRY.values() if tool.name != "help"]
    return ToolResult(message="Here is what I can do:\n" + "\n".join(lines), data={"tools": list(REGISTRY)})


_SITE = {"type": "string", "description": "The site's name (lowercase letters, digits, hyphens)."}
_KEY = {"type": "string", "description": "The env var's name, in capitals (e.g. ANALYTICS_ID)."}
_DOMAIN = {"type": "string", "description": "A domain the organisation holds, like www.example.com."}

REGISTRY: dict[str, Tool] = {
    tool.name: tool
    for tool in (
        Tool(
            name="list_sites",
            description="List the organisation's sites, optionally only those with one status.",
            properties={
                "status": {"type": "string", "enum": SITE_STATUSES, "description": "Only sites in this state."}
            },
            required=(),
            run=list_sites,
            read_only=True,
            destructive=False,
            idempotent=True,
        ),
        Tool(
            name="site_status",
            description="Show one site's status, title, address and last error.",
            properties={"site": _SITE},
            required=("site",),
            run=site_status,
            read_only=True,
            destructive=False,
            idempotent=True,
            questions=(("site", "Which site?"),),
        ),
        Tool(
            name="create_site",
            description="Create a new WordPress site with a name (its address) and a title.",
            properties={
                "site": _SITE,
                "title": {"type": "string", "description": "The site's title, shown to visitors."},
            },
            required=("site", "title"),
            run=create_site,
            read_only=False,
            destructive=False,
            idempotent=False,
            paid=True,
            questions=(
                ("site", "What should the site be called? (a short name, e.g. crumbs)"),
                ("title", "What title should “{site}” have?"),
            ),
        ),
        Tool(
            name="delete_site",
            description="Delete a site and everything in it. Asks for confirmation.",
            properties={"site": _SITE},
            required=("site",),
            run=delete_site,
            read_only=False,
            destructive=True,
            idempotent=True,
            confirm=True,
            questions=(("site", "Which site should I delete?"),),
        ),
        Tool(
            name="suspend_site",
            description="Suspend a site: visitors see a 'suspended' page. Asks for confirmation.",
            properties={"site": _SITE},
            required=("site",),
            run=suspend_site,
            read_only=False,
            destructive=True,
            idempotent=True,
            confirm=True,
            questions=(("site", "Which site should I suspend?"),),
        ),
        Tool(
            name="resume_site",
            description="Bring a suspended site back online.",
            properties={"site": _SITE},
            required=("site",),
            run=resume_site,
            read_only=False,
            destructive=False,
            idempotent=True,
            questions=(("site", "Which site should I resume?"),),
        ),
        Tool(
            name="set_env_var",
            description="Set an environment variable of a site; sensitive values are never shown again.",
            properties={
                "site": _SITE,
                "key": _KEY,
                "value": {"type": "string", "description": "The value, exactly as it should reach the site."},
                "sensitive": {"type": "boolean", "description": "Hide the value from now on (a password, a key)."},
            },
            required=("site", "key", "value"),
            run=set_env_var,
            read_only=False,
            destructive=True,
            idempotent=True,
            questions=(
                ("site", "On which site?"),
                ("key", "What is the variable called?"),
                ("value", "What value should {key} have?"),
            ),
        ),
        Tool(
            name="unset_env_var",
            description="Remove an environment variable from a site.",
            properties={"site": _SITE, "key": _KEY},
            required=("site", "key"),
            run=unset_env_var,
            read_only=False,
            destructive=True,
            idempotent=True,
            questions=(("site", "From which site?"), ("key", "Which variable should I remove?")),
        ),
        Tool(
            name="list_env_vars",
            description="List a site's environment variables (sensitive values masked).",
            properties={"site": _SITE},
            required=("site",),
            run=list_env_vars,
            read_only=True,
            destructive=False,
            idempotent=True,
            questions=(("site", "Of which site?"),),
        ),
        Tool(
            name="purge_cache",
            description="Empty a site's page cache, so that every visitor gets freshly made pages.",
            properties={"site": _SITE},
            required=("site",),
            run=purge_cache,
            read_only=False,
            # It removes only copies: the next visitor's request makes each page again.
            destructive=False,
            idempotent=True,
            questions=(("site", "Which site's cache should I empty?"),),
        ),
        Tool(
            name="add_domain",
            description="Add one of the organisation's own domains to a site; answers the DNS records to create.",
            properties={"site": _SITE, "domain": _DOMAIN},
            required=("site", "domain"),
            run=add_domain,
            read_only=False,
            destructive=False,
            idempotent=False,
            questions=(("site", "Which site should answer on it?"), ("domain", "Which domain (like www.example.com)?")),
        ),
        Tool(
            name="remove_domain",
            description="Remove a domain from its site: the site stops answering on it. Asks for confirmation.",
            properties={"domain": _DOMAIN},
            required=("domain",),
            run=remove_domain,
            read_only=False,
            destructive=True,
            idempotent=True,
            confirm=True,
            questions=(("domain", "Which domain should I remove?"),),
        ),
        Tool(
            name="domain_status",
            description="Show a domain's ownership, DNS and certificate status, and the records it needs.",
            properties={"domain": _DOMAIN},
            required=("domain",),
            run=domain_status,
            read_only=True,
            destructive=False,
            idempotent=True,
            questions=(("domain", "Which domain?"),),
        ),
        Tool(
            name="tenant_costs",
            description=(
                "What the organisation spent (net of credits, with the currency) in a period, per site, "
                "service or day: which site costs most, what October cost. Staff may group by tenant."
            ),
            properties={
                "period": {
                    "type": "string",
                    "description": "this_month (default), last_month, this_year, or a month such as 2026-10.",
                },
                "start": {"type": "string", "description": "First day, YYYY-MM-DD (instead of a period)."},
                "end": {"type": "string", "description": "Last day, YYYY-MM-DD, included (instead of a period)."},
                "group_by": {
                    "type": "string",
                    "enum": list(tools_costs.GROUPS),
                    "description": "site (default), service or day; staff may also ask for tenant.",
                },
            },
            required=(),
            run=tools_costs.tenant_costs,
            read_only=True,
            destructive=False,
            idempotent=True,
            run_across=tools_costs.tenant_costs_across,
        ),
        Tool(
            name="set_budget",
            description=(
                "Set the monthly budget of the organisation, or of one site: owners and billing members "
                "get an email at 80% and 100% of it."
            ),
            properties={
                "amount": {"type": "number", "description": "The monthly amount, in the billing currency."},
                "site": {"type": "string", "description": "A site's name, for that site's own budget."},
            },
            required=("amount",),
            run=tools_costs.set_budget,
            read_only=False,
            destructive=True,
            idempotent=True,
            questions=(("amount", "How much a month?"),),
        ),
        Tool(
            name="help",
            description="Say what the assistant can do.",
            properties={},
            required=(),
            run=help_tool,
            read_only=True,
            destructive=False,
            idempotent=True,
        ),
    )
}


def declarations(*, staff: bool) -> list[dict[str, Any]]:
    """Every tool as a function declaration (name, description, JSON Schema parameters)."""
    return [
        {"name": tool.name, "description": tool.description, "parameters": tool.parameters(staff=staff)}
        for tool in REGISTRY.values()
    ]


def catalogue(*, staff: bool) -> list[dict[str, Any]]:
    """The declarations with whether each waits for confirmation: the API's and the CLI's listing."""
    confirms = {tool.name: tool.confirm for tool in REGISTRY.values()}
    return [{**declared, "confirm": confirms[declared["name"]]} for declared in declarations(staff=staff)]


def system_actor_for_staff(user: Any, *, door: str = "staff chat", api_key: ApiKey | None = None) -> Actor:
    """Staff acting through the assistant (or its tools over MCP, with a staff key): the platform's
    hand, with their name on every audit row. The key stays on it, so a read-scoped one still only looks."""
    return Actor(user=user, label=f"{door}: {user.email}", is_system=True, api_key=api_key)


# --- Running a call: the one path of the chat and of the MCP server ----------------------------

FAILED_ON_OUR_SIDE = "Something went wrong on our side; nothing more was done."


def shown_arguments(tool: Tool, arguments: dict[str, Any]) -> dict[str, Any]:
    """Arguments as stored and shown: a sensitive value never is."""
    if tool.name == "set_env_var" and arguments.get("sensitive"):
        return {**arguments, "value": "••••"}
    return dict(arguments)


def tool_call(
    tool: Tool, arguments: dict[str, Any], *, tenant: Tenant | None, actor: Actor, staff: bool, door: str
) -> tuple[dict[str, Any], ToolResult | None]:
    """Run a checked call as `actor`: in `tenant`, or across tenants (staff, a tool with
    `run_across`). Answers the result as the person and the model see it ({"ok", "message", ...}),
    and what the tool returned when it succeeded. The services check roles and write their audit
    rows; a staff call is recorded as well (`<door>.<tool>`), reads included, since staff look into
    tenants that are not theirs."""
    try:
        if tenant is None and tool.run_across is not None:
            outcome = tool.run_across(actor, arguments)
        elif tenant is not None:
            outcome = tool.run(ToolContext(tenant=tenant, actor=actor), arguments)
        else:
            raise InvalidInput("Name the organisation (tenant) to act in.")
    except ServiceError as exc:
        return {"ok": False, "message": exc.message}, None
    except Exception:
        logger.exception("a tool failed", extra={"tool": tool.name, "door": door})
        return {"ok": False, "message": FAILED_ON_OUR_SIDE}, None
    if staff:
        audit_record(
            actor=actor, action=f"{door}.{tool.name}", tenant=tenant,
            target=str(arguments.get("site", "")), arguments=shown_arguments(tool, arguments),
        )  # fmt: skip
    return {"ok": True, "message": outcome.message, **outcome.data}, outcome
