"""What a tenant is now, as a definition: what planning compares a file with, what `export` writes
and what GET returns. Every read is scoped to the one tenant it is given."""

from dataclasses import dataclass, field
from typing import Any

from django_tenants.utils import tenant_context

from billing.models import Budget, BudgetAction, BudgetEnforcement
from definitions.models import Application
from definitions.spec import BudgetSpec, SiteSpec, TenantSpec
from dns.models import CustomDomain
from sites.drivers import secret_store
from sites.models import Site, SiteEnvVar, SiteOperation, SiteStatus
from sites.selectors import tenant_secret_exists
from tenants.models import Membership, Role, Tenant, TenantStatus

GONE = (SiteStatus.DELETED,)
# What a definition cannot change about a site: it is on its way out (a definition naming it again
# is refused until it is gone).
LEAVING = (SiteStatus.DELETING,)


@dataclass
class TenantState:
    """The tenant as it is: its definition, and what a definition cannot say."""

    spec: TenantSpec
    status: str
    site_status: dict[str, str] = field(default_factory=dict)
    # site -> env vars holding a sensitive value set directly (portal, API, chat): a definition
    # cannot carry the value, only a reference to a tenant secret.
    direct_secrets: dict[str, list[str]] = field(default_factory=dict)

    def warnings(self) -> list[str]:
        return [
            f"{site}: {name} holds a sensitive value set directly, which a definition cannot hold, so "
            f"definitions leave it alone: to manage it as code, store it as a tenant secret "
            f"(PUT /api/v1/secrets/NAME/) and refer to it under secretEnv"
            for site, names in sorted(self.direct_secrets.items())
            for name in names
        ]

    def status_document(self) -> dict[str, Any]:
        return {"state": self.status, "sites": dict(sorted(self.site_status.items()))}


def _budget(budget: Budget | None) -> BudgetSpec | None:
    if budget is None:
        return None
    return BudgetSpec(monthly=budget.amount, currency=budget.currency, action=budget.action)


def tenant_state(tenant: Tenant) -> TenantState:
    owners = sorted(
        email.lower()
        for email in Membership.objects.filter(tenant=tenant, role=Role.OWNER).values_list("user__email", flat=True)
    )
    budgets = {budget.site_id: budget for budget in Budget.objects.filter(tenant=tenant)}
    domains: dict[int, list[str]] = {}
    for site_id, hostname in CustomDomain.objects.filter(tenant=tenant).values_list("site_id", "hostname"):
        domains.setdefault(site_id, []).append(hostname)
    state = TenantState(
        spec=TenantSpec(name=tenant.slug, display_name=tenant.name, owners=tuple(owners)), status=tenant.status
    )
    if tenant.status not in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED):
        # No schema yet (provisioning), or on its way out: no sites to read.
        state.spec = TenantSpec(
            name=tenant.slug, display_name=tenant.name, owners=tuple(owners), budget=_budget(budgets.get(None))
        )
        return state
    store = secret_store()
    sites = []
    # A budget that capped a site lowered its PHP workers until the month turns: the definition's
    # figure is the one from before, or every apply would undo the cap.
    capped = dict(
        BudgetEnforcement.objects.filter(
            tenant=tenant, undone_at__isnull=True, action=BudgetAction.CAP, previous_workers__isnull=False
        ).values_list("site_id", "previous_workers")
    )
    with tenant_context(tenant):
        for site in Site.objects.exclude(status__in=GONE).order_by("slug"):
            state.site_status[site.slug] = site.status
            if site.status in LEAVING:
                continue
            env: dict[str, str] = {}
            secret_env: dict[str, str] = {}
            for var in SiteEnvVar.objects.filter(site=site):
                if var.from_secret:
                    secret_env[var.name] = var.from_secret
                elif var.sensitive:
                    state.direct_secrets.setdefault(site.slug, []).append(var.name)
                else:
                    env[var.name] = store.reveal(var.reference)
            sites.append(
                SiteSpec(
                    name=site.slug,
                    title=site.title,
                    max_workers=capped.get(site.pk) or site.max_php_workers,
                    env=env,
                    secret_env=secret_env,
                    domains=tuple(sorted(domains.get(site.pk, []))),
                    budget=_budget(budgets.get(site.pk)),
                )
            )
    state.spec = TenantSpec(
        name=tenant.slug,
        display_name=tenant.name,
        owners=tuple(owners),
        budget=_budget(budgets.get(None)),
        sites=tuple(sites),
    )
    return state


def missing_secrets(tenant: Tenant, names: set[str]) -> set[str]:
    return {name for name in names if not tenant_secret_exists(tenant=tenant, name=name)}


def managed_tenant_slugs() -> list[str]:
    """Tenants whose latest definition staff (or the platform's CLI) applied: the only ones `--prune`
    may delete. A tenant made in the portal, or last applied by its own owners from their own
    repository, is never pruned by a fleet's folder that does not know it."""
    latest: dict[int, bool] = {}
    for tenant_id, by_staff in (
        Application.objects.filter(tenant__status__in=(TenantStatus.ACTIVE, TenantStatus.SUSPENDED))
        .order_by("created_at", "id")
        .values_list("tenant_id", "by_staff")
    ):
        latest[tenant_id] = by_staff
    managed = [tenant_id for tenant_id, by_staff in latest.items() if by_staff]
    return sorted(Tenant.objects.filter(pk__in=managed).values_list("slug", flat=True))


def application_get(*, tenant_slug: str, application_id: int) -> Application | None:
    return Application.objects.filter(pk=application_id, tenant_slug=tenant_slug).first()


def application_operations(application: Application) -> list[dict[str, Any]]:
    """The site operations an application started, as they are now: where to follow it."""
    started = application.operations or []
    tenant = application.tenant
    if not started or tenant is None or tenant.status != TenantStatus.ACTIVE:
        return [{**entry, "state": "unknown"} for entry in started]
    ids = [entry["operation"] for entry in started]
    with tenant_context(tenant):
        found = {
            op.pk: op
            for op in SiteOperation.objects.filter(pk__in=ids)
            .select_related("site")
            .only("pk", "state", "current_step", "step_index", "steps_total", "error", "site__slug")
        }
    shown = []
    for entry in started:
        operation = found.get(entry["operation"])
        if operation is None:
            shown.append({**entry, "state": "gone"})
            continue
        shown.append(
            {
                **entry,
                "state": operation.state,
                "step": operation.current_step,
                "progress": f"{operation.step_index}/{operation.steps_total}",
                "error": operation.error[:300],
            }
        )
    return shown
