"""Every write about costs: budgets (set, removed, acting at 100% and undone), the notices they send,
and the alerts raised when a day's cost leaves its baseline. Keyword-only, the acting user's role
checked here, audited, emails queued once the transaction commits."""

import logging
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.utils import timezone
from django_tenants.utils import tenant_context

from billing.models import Budget, BudgetAction, BudgetEnforcement, BudgetNotice, CostAlert, CostRecord
from billing.roles import BUDGET_ACTION_WRITERS, BUDGET_WRITERS
from billing.selectors import main_currency, month_start, spent_in_month
from kernel.errors import Conflict, InvalidInput, NotFound, ServiceError
from sites import services as site_services
from sites.models import UNFINISHED_STATES, Site, SiteOperation, SiteStatus
from tenants.audit import Actor, audit_record
from tenants.events import publish_tenant_event
from tenants.models import Role, Tenant, TenantStatus
from tenants.roles import require_role

logger = logging.getLogger(__name__)

NOTICE_LEVELS = (80, 100)
ACTION_REFUSED = "Only owners and admins can change a budget that caps or suspends a site."
MAX_BUDGET = Decimal("1000000000")
ENFORCER = "budget"  # the label of the system actor that caps and suspends sites


def _recipients(tenant: Tenant) -> list[str]:
    return sorted(
        set(tenant.memberships.filter(role__in=[Role.OWNER, Role.BILLING]).values_list("user__email", flat=True))
    )


def _queue_email(tenant: Tenant, subject: str, body: str) -> None:
    from billing.tasks import billing_email

    recipients = _recipients(tenant)
    if recipients:
        transaction.on_commit(partial(billing_email.delay, subject, body, recipients))


# --- Budgets ------------------------------------------------------------------------------------


def _amount(value: Any) -> Decimal:
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise InvalidInput(f"amount: {value!r} is not a number.", field="amount") from None
    if not amount.is_finite() or amount <= 0 or amount >= MAX_BUDGET:
        raise InvalidInput("amount: give a monthly amount above 0 (such as 200).", field="amount")
    if amount != amount.quantize(Decimal("0.01")):
        raise InvalidInput("amount: use at most two decimals.", field="amount")
    return amount


def _site_of(tenant: Tenant, name: str) -> Site:
    with tenant_context(tenant):
        site = Site.objects.exclude(status=SiteStatus.DELETED).filter(slug=str(name).strip().lower()).first()
    if site is None:
        raise NotFound(f"No site named “{name}” here.")
    return site


def budget_set(
    *,
    tenant: Tenant,
    actor: Actor,
    amount: Any,
    site: str | None = None,
    action: str | None = None,
    currency: str | None = None,
) -> Budget:
    """Set the monthly budget of the tenant, or of one of its sites. What is not given (the action at
    100%, the currency) stays as it was; a new budget only notifies, in the tenant's currency.
    Raising it above what was spent undoes what it did at 100% this month."""
    require_role(actor, tenant, BUDGET_WRITERS, "Only owners, admins and billing members can set budgets.")
    amount = _amount(amount)
    if action is not None and action not in BudgetAction.values:
        raise InvalidInput(f"action: {action!r} is not one of {', '.join(BudgetAction.values)}.", field="action")
    if action not in (None, BudgetAction.NOTIFY) and not site:
        raise InvalidInput("action: only a site's budget can cap or suspend (name the site).", field="action")
    if currency is not None and (len(currency) != 3 or not currency.isalpha()):
        raise InvalidInput(f"currency: {currency!r} is not a three-letter currency code.", field="currency")
    found = _site_of(tenant, site) if site else None
    existing = Budget.objects.filter(tenant=tenant, site_id=found.pk if found else None).first()
    action = action or (existing.action if existing else BudgetAction.NOTIFY)
    currency = (currency or (existing.currency if existing else main_currency(tenant))).upper()
    if action != BudgetAction.NOTIFY or (existing is not None and existing.action != BudgetAction.NOTIFY):
        # It changes what happens to a site (and raising it may resume one): a site writer's call.
        require_role(actor, tenant, BUDGET_ACTION_WRITERS, ACTION_REFUSED)
    with transaction.atomic():
        budget, created = Budget.objects.select_for_update().get_or_create(
            tenant=tenant,
            site_id=found.pk if found else None,
            defaults={
                "amount": amount,
                "currency": currency,
                "action": action,
                "site_slug": found.slug if found else "",
            },
        )
        before = {"amount": str(budget.amount), "action": budget.action}
        if not created:
            budget.amount, budget.currency, budget.action = amount, currency, action
            budget.save(update_fields=["amount", "currency", "action", "updated_at"])
        audit_record(
            actor=actor,
            action="billing.budget.set",
            tenant=tenant,
            target=budget.site_slug or tenant.slug,
            amount=str(amount),
            currency=currency,
            budget_action=action,
            before=None if created else before,
        )
    _undo_if_released(budget)
    return budget


def budget_remove(*, tenant: Tenant, actor: Actor, site: str | None = None) -> None:
    require_role(actor, tenant, BUDGET_WRITERS, "Only owners, admins and billing members can remove budgets.")
    site_id = _site_of(tenant, site).pk if site else None
    with transaction.atomic():
        budget = Budget.objects.select_for_update().filter(tenant=tenant, site_id=site_id).first()
        if budget is None:
            raise NotFound(f"{'“' + site + '”' if site else tenant.slug} has no budget.")
        if budget.action != BudgetAction.NOTIFY:
            require_role(actor, tenant, BUDGET_ACTION_WRITERS, ACTION_REFUSED)
        audit_record(actor=actor, action="billing.budget.remove", tenant=tenant, target=budget.site_slug or tenant.slug)
        budget.delete()
    if site_id is not None:  # the organisation's budget never acts on a site: nothing to undo
        _undo_enforcements(tenant=tenant, site_id=site_id, why="its budget was removed")


def budgets_for_site_deleted(*, tenant: Tenant, site_id: int) -> None:
    Budget.objects.filter(tenant=tenant, site_id=site_id).delete()
    BudgetEnforcement.objects.filter(tenant=tenant, site_id=site_id, undone_at__isnull=True).update(
        undone_at=timezone.now()
    )


@dataclass(frozen=True)
class BudgetOutcome:
    notices: int
    enforced: int


def budgets_evaluate(*, today: date | None = None, tenant: Tenant | None = None) -> BudgetOutcome:
    """Compare every budget with this month's cost: a notice at 80% and at 100% (once each), and at
    100% the site's action when it has one. Runs after each aggregation."""
    today = today or timezone.now().date()
    month = month_start(today)
    budgets = Budget.objects.select_related("tenant")
    if tenant is not None:
        budgets = budgets.filter(tenant=tenant)
    notices = enforced = 0
    for budget in budgets:
        spent = spent_in_month(tenant=budget.tenant, month=month, currency=budget.currency, site_id=budget.site_id)
        if spent >= budget.amount and budget.action != BudgetAction.NOTIFY and budget.site_id is not None:
            enforced += _enforce(budget, month, spent)
        for percent in NOTICE_LEVELS:
            if spent * 100 >= budget.amount * percent and _notice_once(budget, month, percent, spent):
                notices += 1
    return BudgetOutcome(notices=notices, enforced=enforced)


def _acting(budget: Budget, month: date) -> bool:
    """The site's budget capped or suspended it this month, and that is not undone."""
    if budget.site_id is None:
        return False
    return BudgetEnforcement.objects.filter(
        tenant=budget.tenant, site_id=budget.site_id, month=month, undone_at__isnull=True
    ).exists()


def _notice_once(budget: Budget, month: date, percent: int, spent: Decimal) -> bool:
    tenant = budget.tenant
    try:
        with transaction.atomic():
            BudgetNotice.objects.create(budget=budget, month=month, percent=percent, amount=budget.amount, spent=spent)
            what = f"the site {budget.site_slug}" if budget.site_slug else f"{tenant.name}"
            subject = f"{tenant.name}: {percent}% of the {month:%B} budget of {what} is spent"
            body = (
                f"{what[0].upper() + what[1:]} has cost {spent:.2f} {budget.currency} so far in {month:%B %Y}, "
                f"{percent}% of its monthly budget of {budget.amount} {budget.currency}.\n"
            )
            if percent >= 100 and budget.action != BudgetAction.NOTIFY:
                done = "capped to one PHP worker" if budget.action == BudgetAction.CAP else "suspended"
                if _acting(budget, month):
                    body += (
                        f"As the budget says, the site is being {done} until the month turns or the budget is raised.\n"
                    )
                else:
                    body += (
                        f"The budget asks for the site to be {done}; that happens as soon as it is idle and ready.\n"
                    )
            body += f"See the Billing page: {tenant.portal_url}billing/\n"
            audit_record(
                actor=Actor.system(ENFORCER),
                action=f"billing.budget.{percent}",
                tenant=tenant,
                target=budget.site_slug or tenant.slug,
                spent=str(spent),
                amount=str(budget.amount),
            )
            publish_tenant_event(
                tenant.pk,
                "billing.budget",
                {"site": budget.site_slug, "percent": percent, "spent": str(spent), "amount": str(budget.amount)},
            )
            _queue_email(tenant, subject, body)
    except IntegrityError:
        return False  # told already this month
    return True


def _enforce(budget: Budget, month: date, spent: Decimal) -> int:
    """Cap or suspend the site through the pipeline, once per month and amount. A site that is busy
    or not ready is left for the next run (nothing is recorded until the operation is queued)."""
    tenant, site_id = budget.tenant, budget.site_id
    # Acting already; or it acted at this amount this month and a person undid it (theirs to decide).
    done = (
        site_id is None
        or _acting(budget, month)
        or BudgetEnforcement.objects.filter(
            tenant=tenant, site_id=site_id, month=month, amount__gte=budget.amount
        ).exists()
    )
    site = None
    if not done and site_id is not None:
        with tenant_context(tenant):
            site = Site.objects.filter(pk=site_id).first()
    if site is None or site.status != SiteStatus.READY:
        return 0
    actor = Actor.system(ENFORCER)
    try:
        with transaction.atomic():
            Budget.objects.select_for_update().filter(pk=budget.pk).first()  # one run acts at a time
            if _acting(budget, month):
                return 0
            enforcement = BudgetEnforcement.objects.create(
                tenant=tenant,
                site_id=site.pk,
                site_slug=site.slug,
                month=month,
                amount=budget.amount,
                action=budget.action,
                previous_workers=site.max_php_workers if budget.action == BudgetAction.CAP else None,
            )
            if budget.action == BudgetAction.CAP:
                if site.max_php_workers > 1:
                    site_services.site_update(tenant=tenant, actor=actor, name=site.slug, max_php_workers=1)
            else:
                site_services.site_suspend(tenant=tenant, actor=actor, name=site.slug)
            audit_record(
                actor=actor,
                action=f"billing.budget.{enforcement.action}",
                tenant=tenant,
                target=site.slug,
                spent=str(spent),
                amount=str(budget.amount),
            )
    except IntegrityError:
        return 0
    except ServiceError as exc:  # busy: the next run tries again
        logger.info("budget action on %s deferred: %s", site.slug, exc)
        return 0
    return 1


def _undo(enforcement: BudgetEnforcement, why: str) -> bool:
    tenant = enforcement.tenant
    actor = Actor.system(ENFORCER)
    if tenant.status != TenantStatus.ACTIVE:
        return False  # a suspended organisation's sites stay down; undone once it is active again
    with tenant_context(tenant):
        site = Site.objects.filter(pk=enforcement.site_id).first()
        busy = site is not None and SiteOperation.objects.filter(site=site, state__in=UNFINISHED_STATES).exists()
    if busy:
        return False  # the cap or suspension may still be on its way: undo it once it has landed
    try:
        with transaction.atomic():
            locked = BudgetEnforcement.objects.select_for_update().get(pk=enforcement.pk)
            if locked.undone_at is not None:
                return False
            if site is not None and site.status != SiteStatus.DELETED:
                if enforcement.action == BudgetAction.CAP:
                    # Only if nobody changed its scaling since: a person's choice wins over the undo.
                    if site.max_php_workers == 1 and (enforcement.previous_workers or 1) > 1:
                        site_services.site_update(
                            tenant=tenant, actor=actor, name=site.slug, max_php_workers=enforcement.previous_workers
                        )
                elif site.status == SiteStatus.SUSPENDED and not site.suspended_with_tenant:
                    site_services.site_resume(tenant=tenant, actor=actor, name=site.slug)
            locked.undone_at = timezone.now()
            locked.save(update_fields=["undone_at"])
            audit_record(
                actor=actor,
                action=f"billing.budget.{enforcement.action}.undone",
                tenant=tenant,
                target=enforcement.site_slug,
                why=why,
            )
    except (Conflict, ServiceError) as exc:  # busy: the hourly run tries again
        logger.info("undoing the budget action on %s deferred: %s", enforcement.site_slug, exc)
        return False
    return True


def _undo_enforcements(*, tenant: Tenant, site_id: int | None, why: str) -> int:
    open_ = BudgetEnforcement.objects.filter(tenant=tenant, undone_at__isnull=True)
    if site_id is not None:
        open_ = open_.filter(site_id=site_id)
    return sum(_undo(enforcement, why) for enforcement in open_.select_related("tenant"))


def _undo_if_released(budget: Budget) -> None:
    if budget.site_id is None:
        return
    month = month_start(timezone.now().date())
    spent = spent_in_month(tenant=budget.tenant, month=month, currency=budget.currency, site_id=budget.site_id)
    if budget.action == BudgetAction.NOTIFY or spent < budget.amount:
        _undo_enforcements(tenant=budget.tenant, site_id=budget.site_id, why="its budget was raised or changed")


def budgets_undo_due(*, today: date | None = None) -> int:
    """Undo what budgets did in a month that has ended, or whose budget is now above the spend."""
    month = month_start(today or timezone.now().date())
    undone = 0
    for enforcement in BudgetEnforcement.objects.filter(undone_at__isnull=True).select_related("tenant"):
        if enforcement.month < month:
            undone += _undo(enforcement, "the month turned")
            continue
        budget = Budget.objects.filter(tenant=enforcement.tenant, site_id=enforcement.site_id).first()
        if budget is None or budget.action == BudgetAction.NOTIFY:
            undone += _undo(enforcement, "its budget was removed or no longer acts")
            continue
        spent = spent_in_month(tenant=enforcement.tenant, month=month, currency=budget.currency, site_id=budget.site_id)
        if spent < budget.amount:
            undone += _undo(enforcement, "its budget was raised")
    return undone


# --- Anomalies ----------------------------------------------------------------------------------


def anomalies_detect(*, day: date | None = None) -> int:
    """Alert on a tenant or site whose cost on `day` (by default yesterday, the last complete day)
    is above BILLING_ANOMALY_FACTOR times the median of its previous days (at least three of them,
    days without cost counting as zero) and above BILLING_ANOMALY_FLOOR. No long history needed."""
    day = day or timezone.now().date() - timedelta(days=1)
    window = settings.BILLING_ANOMALY_BASELINE_DAYS
    floor = Decimal(str(settings.BILLING_ANOMALY_FLOOR))
    factor = Decimal(str(settings.BILLING_ANOMALY_FACTOR))
    first = day - timedelta(days=window)
    rows = (
        CostRecord.objects.filter(tenant__isnull=False, day__range=(first, day))
        .values("tenant_id", "site_label", "currency", "day")
        .annotate(net=Sum("net"))
    )
    series: dict[tuple[int, str, str], dict[date, Decimal]] = defaultdict(dict)
    names: dict[tuple[int, str], str] = {}
    for row in rows:
        for scope in {row["site_label"], ""}:  # a set: cost of no site counts once for the tenant
            key = (row["tenant_id"], scope, row["currency"])
            series[key][row["day"]] = series[key].get(row["day"], Decimal(0)) + row["net"]
    for record in (
        CostRecord.objects.filter(day__range=(first, day))
        .exclude(site_slug="")
        .values("tenant_id", "site_label", "site_slug")
        .distinct()
    ):
        names[(record["tenant_id"], record["site_label"])] = record["site_slug"]
    raised = 0
    for (tenant_id, site_label, currency), by_day in series.items():
        cost = by_day.get(day, Decimal(0))
        history_start = min(by_day)
        previous = [
            by_day.get(day - timedelta(days=n), Decimal(0))
            for n in range(1, window + 1)
            if day - timedelta(days=n) >= history_start
        ]
        if len(previous) < 3 or cost <= floor:
            continue
        baseline = Decimal(statistics.median(previous))
        if cost <= baseline * factor:
            continue
        raised += _alert_once(
            Spike(tenant_id, site_label, names.get((tenant_id, site_label), ""), day, currency, cost, baseline)
        )
    return raised


@dataclass(frozen=True)
class Spike:
    tenant_id: int
    site_label: str
    site_slug: str
    day: date
    currency: str
    cost: Decimal
    baseline: Decimal


def _alert_once(spike: Spike) -> int:
    tenant_id, site_label, site_slug, day = spike.tenant_id, spike.site_label, spike.site_slug, spike.day
    currency, cost, baseline = spike.currency, spike.cost, spike.baseline
    tenant = Tenant.objects.get(pk=tenant_id)
    try:
        with transaction.atomic():
            CostAlert.objects.create(
                tenant=tenant,
                site_label=site_label,
                site_slug=site_slug,
                day=day,
                currency=currency,
                cost=cost,
                baseline=baseline,
            )
            what = f"The site {site_slug or site_label}" if site_label else tenant.name
            audit_record(
                actor=Actor.system("cost anomaly"),
                action="billing.anomaly",
                tenant=tenant,
                target=site_slug or site_label or tenant.slug,
                day=str(day),
                cost=str(cost),
                baseline=str(baseline),
            )
            publish_tenant_event(
                tenant.pk,
                "billing.anomaly",
                {
                    "site": site_slug,
                    "day": str(day),
                    "cost": str(cost),
                    "baseline": str(baseline),
                    "currency": currency,
                },
            )
            _queue_email(
                tenant,
                f"{tenant.name}: unusual cost on {day:%d %B}",
                f"{what} cost {cost:.2f} {currency} on {day:%A %d %B %Y}, more than "
                f"{settings.BILLING_ANOMALY_FACTOR:g} times its usual {baseline:.2f} {currency} a day "
                f"(the median of the days before).\nSee the Billing page: {tenant.portal_url}billing/\n",
            )
    except IntegrityError:
        return 0
    return 1
