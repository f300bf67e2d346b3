"""Planning and applying tenant definitions (tenants as code).

Applying is the plan carried out by the services that own each piece (tenants, sites, dns,
billing), with their own role checks and audit rows, inside ONE transaction: a change that fails
(a busy site, a domain another tenant holds) leaves the tenant exactly as it was. Site work itself
runs on the worker afterwards, as site operations the answer lists. A new tenant is the exception:
its schema is made by the worker first, so the tenant is created now and the rest of the definition
is applied by `application_continue` once it is active."""

import json
import logging
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from billing import services as billing_services
from definitions import selectors
from definitions.models import Application, ApplicationState
from definitions.parsing import DefinitionInvalid, Problem, parse_definition
from definitions.planning import Change, Plan, plan_changes
from definitions.spec import BudgetSpec, TenantSpec
from dns import services as dns_services
from kernel.errors import Conflict, NotFound, NotPermitted, ServiceError
from sites import services as site_services
from sites.models import SiteStatus
from tenants import selectors as tenant_selectors
from tenants import services as tenant_services
from tenants.audit import Actor, audit_record
from tenants.models import Tenant, TenantStatus
from tenants.roles import READ_ONLY_KEY_REFUSED, acts_as_owner

logger = logging.getLogger(__name__)
OWNERS_ONLY = "Only the organisation's owners (or platform staff) can plan, apply or export its definition."


# --- Who may do what -------------------------------------------------------------------------------


def acting_as(actor: Actor) -> Actor:
    """Staff act on any tenant as the platform itself, with their name on every audit row; others
    act as themselves, with their role checked by each service."""
    if actor.is_staff and not actor.is_system:
        return Actor(
            user=actor.user,
            label=f"{actor.label} (staff)",
            ip_address=actor.ip_address,
            api_key=actor.api_key,
            is_system=True,
        )
    return actor


def require_owner(actor: Actor, tenant: Tenant) -> None:
    """A definition names the owners and everything else: owners decide it (through their own keys
    too), and staff."""
    if not acts_as_owner(actor, tenant):
        raise NotPermitted(OWNERS_ONLY)


def _tenant(name: str) -> Tenant | None:
    tenant = tenant_selectors.tenant_get_by_slug(name)
    if tenant is not None and tenant.status == TenantStatus.FAILED:
        return None  # a creation that failed for good: its slug may be claimed again
    return tenant


def tenant_for_definition(*, actor: Actor, name: str) -> Tenant:
    """The existing tenant `name`, for someone allowed to see its definition; 404 otherwise."""
    tenant = _tenant(name)
    if tenant is None:
        raise NotFound(f"No organisation “{name}”.")
    require_owner(actor, tenant)
    return tenant


# --- Plan ----------------------------------------------------------------------------------------


def _secret_problems(tenant: Tenant | None, spec: TenantSpec) -> list[Problem]:
    wanted = {secret for site in spec.sites for secret in site.secret_env.values()}
    missing = selectors.missing_secrets(tenant, wanted) if tenant is not None else wanted
    problems = []
    for index, site in enumerate(spec.sites):
        for key, secret in sorted(site.secret_env.items()):
            if secret in missing:
                path = ("spec", "sites", index, "secretEnv", key, "fromSecret")
                problems.append(
                    Problem(
                        spec.source,
                        spec.line_of(path),
                        f"spec.sites[{index}].secretEnv.{key}.fromSecret",
                        f"no tenant secret “{secret}”: store it first (PUT /api/v1/secrets/{secret}/, the portal's "
                        "Secrets page, or `aipress secret set`), then apply again",
                    )
                )
    return problems


def _limit_problems(tenant: Tenant | None, spec: TenantSpec, state: selectors.TenantState | None) -> list[Problem]:
    problems = []
    limit = tenant.max_sites if tenant is not None else Tenant._meta.get_field("max_sites").get_default()
    if len(spec.sites) > limit:
        problems.append(
            Problem(spec.source, spec.line_of(("spec", "sites")), "spec.sites", f"the plan allows {limit} sites")
        )
    if state is not None:
        for index, site in enumerate(spec.sites):
            if state.site_status.get(site.name) == SiteStatus.DELETING:
                problems.append(
                    Problem(
                        spec.source,
                        spec.line_of(("spec", "sites", index, "name")),
                        f"spec.sites[{index}].name",
                        f"“{site.name}” is being deleted: apply again once it is gone",
                    )
                )
    return problems


def _state_problems(spec: TenantSpec, state: selectors.TenantState | None, tenant: Tenant | None) -> list[Problem]:
    """What the platform as it is forbids: a plain value over a sensitive one set directly, a domain
    another organisation holds."""
    problems = []
    taken = _domains_of_others(tenant, {domain for site in spec.sites for domain in site.domains})
    for index, site in enumerate(spec.sites):
        direct = set(state.direct_secrets.get(site.name, [])) if state is not None else set()
        for key in sorted(direct & set(site.env)):
            problems.append(
                Problem(
                    spec.source,
                    spec.line_of(("spec", "sites", index, "env", key)),
                    f"spec.sites[{index}].env.{key}",
                    f"“{site.name}” holds a sensitive value in {key}, set directly: a plain value cannot replace "
                    "it (it would stay hidden). Refer to a tenant secret under secretEnv, or remove the "
                    f"variable first (DELETE /api/v1/sites/{site.name}/env/{key}/)",
                )
            )
        for position, domain in enumerate(site.domains):
            if domain in taken:
                problems.append(
                    Problem(
                        spec.source,
                        spec.line_of(("spec", "sites", index, "domains", position)),
                        f"spec.sites[{index}].domains[{position}]",
                        f"{domain} is taken: another organisation on this platform has it",
                    )
                )
    return problems


def _domains_of_others(tenant: Tenant | None, domains: set[str]) -> set[str]:
    from dns.models import CustomDomain

    claimed = CustomDomain.objects.filter(hostname__in=domains)
    if tenant is not None:
        claimed = claimed.exclude(tenant=tenant)
    return set(claimed.values_list("hostname", flat=True))


def _with_currencies(spec: TenantSpec, tenant: Tenant | None, state: selectors.TenantState | None) -> TenantSpec:
    """A budget that names no currency keeps the one it is in, else takes the tenant's billing
    currency (the one most of its costs are in): what the portal and the API do."""
    if tenant is None:
        fallback = str(settings.BILLING_CURRENCY)
    else:
        from billing.selectors import main_currency

        fallback = main_currency(tenant)

    def resolved(want: BudgetSpec | None, have: BudgetSpec | None) -> BudgetSpec | None:
        if want is None or want.currency:
            return want
        return replace(want, currency=have.currency if have is not None and have.currency else fallback)

    have_spec = state.spec if state is not None else None
    sites = tuple(
        replace(site, budget=resolved(site.budget, _site_budget(have_spec, site.name))) for site in spec.sites
    )
    return replace(spec, budget=resolved(spec.budget, have_spec.budget if have_spec else None), sites=sites)


def _site_budget(spec: TenantSpec | None, name: str) -> BudgetSpec | None:
    site = spec.site(name) if spec is not None else None
    return site.budget if site is not None else None


@dataclass
class Planned:
    plan: Plan
    tenant: Tenant | None
    state: selectors.TenantState | None
    warnings: list[str] = field(default_factory=list)


def _planned(actor: Actor, spec: TenantSpec, *, tenant: Tenant | None) -> Planned:
    state = selectors.tenant_state(tenant) if tenant is not None else None
    if tenant is not None and tenant.status == TenantStatus.DELETING:
        raise Conflict(f"“{tenant.slug}” is being deleted.")
    problems = (
        _secret_problems(tenant, spec) + _limit_problems(tenant, spec, state) + _state_problems(spec, state, tenant)
    )
    if problems:
        raise DefinitionInvalid(problems)
    spec = _with_currencies(spec, tenant, state)
    plan = plan_changes(spec, state.spec if state is not None else None)
    return Planned(plan=plan, tenant=tenant, state=state, warnings=state.warnings() if state else [])


def definition_plan(*, actor: Actor, spec: TenantSpec) -> Planned:
    """What applying `spec` would change, changing nothing. A tenant that does not exist yet is
    planned as created (staff only: owners never create tenants)."""
    tenant = _tenant(spec.name)
    if tenant is None:
        if not (actor.is_staff or actor.is_system):
            raise NotFound(f"No organisation “{spec.name}”.")
    else:
        require_owner(actor, tenant)
    return _planned(actor, spec, tenant=tenant)


# --- Apply ---------------------------------------------------------------------------------------


@dataclass
class Applied:
    application: Application
    plan: Plan
    warnings: list[str]

    @property
    def running(self) -> bool:
        """Work goes on after the answer: the tenant's creation, or site operations."""
        return self.application.state == ApplicationState.WAITING or bool(self.application.operations)


def _record(actor: Actor, spec: TenantSpec, tenant: Tenant | None, plan: Plan) -> Application:
    return Application.objects.create(
        tenant=tenant,
        tenant_slug=spec.name,
        document=spec.document(),
        changes=[change.as_dict() for change in plan.changes],
        requested_by=actor.user,
        requested_by_label=actor.label[:200],
        by_staff=actor.is_system or actor.is_staff,
    )


def definition_apply(*, actor: Actor, spec: TenantSpec, create: bool | None = None) -> Applied:
    """Make the tenant what `spec` says. `create`: True for POST (409 if it exists), False for PUT
    (404 if it does not), None for the CLI (whichever is needed)."""
    if actor.read_only:
        raise NotPermitted(READ_ONLY_KEY_REFUSED)
    tenant = _tenant(spec.name)
    if tenant is not None and create is True:
        raise Conflict(f"“{spec.name}” exists already: PUT /api/v1/tenants/{spec.name}/ applies a definition to it.")
    if tenant is None and create is False:
        raise NotFound(f"No organisation “{spec.name}”: POST /api/v1/tenants/ creates it.")
    if tenant is None:
        if not (actor.is_staff or actor.is_system):
            raise NotPermitted("Only platform staff can create organisations.")
        return _create(acting_as(actor), spec)
    require_owner(actor, tenant)
    if tenant.status == TenantStatus.PROVISIONING:
        raise Conflict(f"“{tenant.slug}” is still being created: apply again once it is active.")
    if tenant.status != TenantStatus.ACTIVE:
        raise Conflict(f"“{tenant.slug}” is {tenant.status}: a definition is applied to an active organisation.")
    actor = acting_as(actor)
    with transaction.atomic():
        # One application of a tenant at a time: a second waits here, then plans what the first left.
        tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
        if Application.objects.filter(tenant=tenant, state=ApplicationState.WAITING).exists():
            # Its creation's definition is still to be applied; applying this one first would let
            # the older one overwrite it moments later.
            raise Conflict(f"“{tenant.slug}” is still being set up from its first definition: apply again shortly.")
        planned = _planned(actor, spec, tenant=tenant)
        application = _record(actor, spec, tenant, planned.plan)
        _carry_out(actor, tenant, planned.plan, application)
        _finish(application)
        audit_record(
            actor=actor,
            action="tenant.definition.apply",
            tenant=tenant,
            target=tenant.slug,
            changes=len(planned.plan.changes),
            application=application.pk,
        )
    return Applied(application=application, plan=planned.plan, warnings=planned.warnings)


def _create(actor: Actor, spec: TenantSpec) -> Applied:
    planned = _planned(actor, spec, tenant=None)
    with transaction.atomic():
        first_owner = tenant_services.user_ensure(email=spec.owners[0], verified=False)
        tenant = tenant_services.tenant_create(actor=actor, slug=spec.name, name=spec.display_name, owner=first_owner)
        application = _record(actor, spec, tenant, planned.plan)
        audit_record(actor=actor, action="tenant.definition.create", tenant=tenant, target=tenant.slug)
        transaction.on_commit(lambda: _queue_continue(application.pk))
    return Applied(application=application, plan=planned.plan, warnings=[])


def _queue_continue(application_id: int, countdown: float = 0.5) -> None:
    from definitions.tasks import definition_application_continue

    definition_application_continue.apply_async(
        args=(application_id,), countdown=countdown, headers={"_schema_name": "public"}
    )


def application_continue(*, application_id: int) -> Application | None:
    """Apply what a definition asked beyond its tenant's creation, once the tenant is active.
    Idempotent: the worker, the CLI waiting on it and the reconciler may all ask. None: try later.
    Anything that goes wrong ends the application as failed with the reason: never waiting forever."""
    with transaction.atomic():
        application = Application.objects.select_for_update().filter(pk=application_id).first()
        if application is None or application.state != ApplicationState.WAITING:
            return application
        application.last_attempt_at = timezone.now()
        application.save(update_fields=["last_attempt_at"])
        tenant = application.tenant
        if tenant is None or tenant.status in (TenantStatus.FAILED, TenantStatus.DELETING):
            why = tenant.last_error if tenant is not None and tenant.last_error else "the organisation is gone"
            _fail(application, f"Creating the organisation failed: {why}")
            return application
        if tenant.status != TenantStatus.ACTIVE:
            return None
        actor = Actor(
            user=application.requested_by, label=application.requested_by_label, is_system=True
        )  # staff created it (checked then); the platform finishes the job in their name
        try:
            with transaction.atomic():
                spec = parse_definition(_as_text(application.document), source=f"application {application.pk}")
                tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
                planned = _planned(actor, spec, tenant=tenant)
                _carry_out(actor, tenant, planned.plan, application)
                application.changes = [change.as_dict() for change in planned.plan.changes]
                _finish(application)
        except ServiceError as exc:
            _fail(application, f"The organisation was created, but the rest of its definition was not applied: {exc}")
        except Exception:
            # A bug must end the application (logged), not leave it waiting and retried forever.
            logger.exception("applying the definition of %s failed", application.tenant_slug)
            _fail(application, "The organisation was created, but applying the rest of its definition failed "
                  "unexpectedly (see the platform's logs); apply the definition again.")  # fmt: skip
    return application


def _as_text(document: dict[str, Any]) -> str:
    # Not ASCII-escaped: an escaped character outside the BMP would come back as two surrogates.
    return json.dumps(document, ensure_ascii=False)


def _finish(application: Application) -> None:
    application.state = ApplicationState.APPLIED
    application.finished_at = timezone.now()
    application.save(update_fields=["state", "finished_at", "operations", "changes"])


def _fail(application: Application, error: str) -> None:
    application.state = ApplicationState.FAILED
    application.error = error[:2000]
    application.finished_at = timezone.now()
    application.save(update_fields=["state", "error", "finished_at"])


def applications_resume_waiting(*, older_than_seconds: int = 30) -> int:
    """The reconciler's part: an application whose task was lost is asked again."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    # Only those nobody has tried lately: a task still retrying each second is left to it.
    waiting = list(
        Application.objects.filter(state=ApplicationState.WAITING, created_at__lt=cutoff)
        .filter(Q(last_attempt_at__isnull=True) | Q(last_attempt_at__lt=cutoff))
        .values_list("pk", flat=True)
    )
    for application_id in waiting:
        _queue_continue(application_id, countdown=0)
    return len(waiting)


def _started(application: Application, site: str, kind: str, operation: Any) -> None:
    if operation is not None:
        application.operations = [
            *application.operations,
            {"site": site, "kind": kind, "operation": operation.pk},
        ]


def _order(change: Change) -> int:
    """Removals before additions: a domain let go may be added to another site, a site deleted
    frees its place under the plan's limit."""
    if change.kind in ("tenant", "owners") or (change.kind == "budget" and not change.site):
        return 0
    if change.kind == "domain" and change.action == "delete":
        return 1
    if change.kind == "site" and change.action == "delete":
        return 2
    return 3


def _carry_out(actor: Actor, tenant: Tenant, plan: Plan, application: Application) -> None:
    deleted = set(plan.deletes_sites)
    for change in sorted(plan.changes, key=_order):  # stable: the plan's order within each phase
        if change.site in deleted and change.kind not in ("site", "domain"):
            continue  # the site's deletion removes its env vars and budget
        _carry_out_one(actor, tenant, change, application)


def _carry_out_one(actor: Actor, tenant: Tenant, change: Change, application: Application) -> None:  # noqa: PLR0912 - one branch per kind of change
    kind, action, site = change.kind, change.action, change.site
    if kind == "tenant":
        if action == "update":
            tenant_services.tenant_rename(actor=actor, tenant=tenant, name=change.after)
        return
    if kind == "owners":
        tenant_services.tenant_owners_set(actor=actor, tenant=tenant, emails=change.after)
        return
    if kind == "budget":
        if action == "delete":
            billing_services.budget_remove(tenant=tenant, actor=actor, site=site or None)
        else:
            after = change.after
            billing_services.budget_set(
                tenant=tenant,
                actor=actor,
                amount=after["monthly"],
                currency=after["currency"],
                action=after.get("action", "notify"),
                site=site or None,
            )
        return
    if kind == "site":
        if action == "create":
            _site, operation, _password = site_services.site_request(
                tenant=tenant,
                actor=actor,
                name=site,
                title=change.after["title"],
                max_php_workers=change.after["maxWorkers"],
            )
            _started(application, site, "create", operation)
        elif action == "update":
            operation = site_services.site_update(
                tenant=tenant,
                actor=actor,
                name=site,
                title=change.after.get("title"),
                max_php_workers=change.after.get("maxWorkers"),
            )
            _started(application, site, "update", operation)
        else:
            _started(application, site, "delete", site_services.site_delete(tenant=tenant, actor=actor, name=site))
        return
    if kind in ("env", "secretEnv"):
        if action == "delete":
            operation = site_services.env_delete(tenant=tenant, actor=actor, name=site, key=change.key)
        elif kind == "env":
            _var, operation = site_services.env_set(
                tenant=tenant, actor=actor, name=site, key=change.key, value=change.after, sensitive=False
            )
        else:
            _var, operation = site_services.env_link_secret(
                tenant=tenant, actor=actor, name=site, key=change.key, secret=change.after
            )
        if not any(entry["operation"] == operation.pk for entry in application.operations):
            _started(application, site, "env", operation)
        return
    if kind == "domain":
        if action == "create":
            dns_services.domain_add(tenant=tenant, actor=actor, site=site, domain=change.key)
        else:
            dns_services.domain_remove(tenant=tenant, actor=actor, domain=change.key, site=site)
        return
    raise AssertionError(f"unknown change {change}")  # a planner bug, never input


# --- Delete --------------------------------------------------------------------------------------


def definition_delete(*, actor: Actor, name: str) -> Tenant:
    """Remove the tenant with all its sites and resources (staff only)."""
    if actor.read_only:
        raise NotPermitted(READ_ONLY_KEY_REFUSED)
    if not (actor.is_staff or actor.is_system):
        raise NotPermitted("Only platform staff can delete organisations.")
    tenant = _tenant(name)
    if tenant is None:
        raise NotFound(f"No organisation “{name}”.")
    return tenant_services.tenant_delete(actor=acting_as(actor), tenant=tenant, confirm=tenant.slug)
