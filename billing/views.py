"""The portal's Billing page: this month's cost, its forecast, where it went, a daily chart, the
budgets (set and removed here), how fresh the figures are. Selectors read, services write, as the
signed-in person; owners, admins and billing members (and staff, to look)."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from billing import selectors, services
from billing.models import BudgetAction
from billing.roles import BUDGET_ACTION_WRITERS, BUDGET_WRITERS, COST_READERS, READ_REFUSED
from kernel.portal import run_action
from sites import selectors as site_selectors
from tenants.audit import Actor
from tenants.permissions import member_required, request_role
from tenants.requests import tenant_of


@member_required(roles=COST_READERS, refused=READ_REFUSED)
@require_http_methods(["GET", "POST"])
def billing_page(request: HttpRequest) -> HttpResponse:
    """GET: the page. POST: set a budget (the organisation's, or a site's with its action)."""
    tenant, actor = tenant_of(request), Actor.from_request(request)
    if request.method == "POST":
        site = request.POST.get("site", "").strip() or None
        amount = request.POST.get("amount", "")
        action = request.POST.get("action") or None  # no choice on the form: keep what it does
        run_action(
            request,
            f"Budget of {site or 'the organisation'} set to {amount.strip()} a month.",
            lambda: services.budget_set(tenant=tenant, actor=actor, amount=amount, site=site, action=action),
        )
        return redirect(reverse("portal-billing") + "#budgets")
    summary = selectors.month_summary(tenant=tenant, actor=actor)
    role = request_role(request)
    context = {
        "summary": summary,
        "chart": {
            "labels": [f"{day:%d %b}" for day, _ in summary.daily],
            "values": [float(net) for _, net in summary.daily],
            "currency": summary.currency,
        },
        "sites": [site.slug for site in site_selectors.site_list(tenant=tenant, actor=actor)],
        "can_budget": role in BUDGET_WRITERS,
        "can_act": role in BUDGET_ACTION_WRITERS,
        "actions": BudgetAction.choices,
        "share_percent": round(float(summary.site_labelled_share) * 100, 1)
        if summary.site_labelled_share is not None
        else None,
    }
    response = render(request, "portal/billing.html", context)
    response["Cache-Control"] = "no-store"
    return response


@member_required(roles=COST_READERS, refused=READ_REFUSED)
@require_POST
def budget_remove(request: HttpRequest) -> HttpResponse:
    site = request.POST.get("site", "").strip() or None
    run_action(
        request,
        f"Budget of {site or 'the organisation'} removed.",
        lambda: services.budget_remove(tenant=tenant_of(request), actor=Actor.from_request(request), site=site),
    )
    return redirect(reverse("portal-billing") + "#budgets")
