"""The domains part of a site's portal page: a panel the site page loads (and reloads when a domain's
status changes), and the forms it posts. Selectors read, services write, as the signed-in person."""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from dns import selectors, services
from dns.selectors import records_for
from kernel.portal import run_action
from sites import selectors as site_selectors
from tenants.audit import Actor
from tenants.permissions import member_required, request_role
from tenants.requests import tenant_of
from tenants.roles import SITE_WRITERS


def _back(name: str) -> HttpResponse:
    return redirect(reverse("portal-site", kwargs={"name": name}) + "#domains")


@member_required
@require_http_methods(["GET", "POST"])
def site_domains(request: HttpRequest, name: str) -> HttpResponse:
    """GET: the panel (a fragment for the site page's script, or a page of its own without one).
    POST: add a domain."""
    actor = Actor.from_request(request)
    if request.method == "POST":
        domain = request.POST.get("domain", "")
        run_action(
            request,
            f"{domain.strip().lower()} added: create the records below at its DNS host.",
            lambda: services.domain_add(tenant=tenant_of(request), actor=actor, site=name, domain=domain),
        )
        return _back(name)
    site = site_selectors.site_get(tenant=tenant_of(request), actor=actor, name=name)
    domains = selectors.domain_list(tenant=tenant_of(request), actor=actor, site=name)
    context = {
        "site": site,
        "domains": [(domain, records_for(domain, runtime=site.runtime)) for domain in domains],
        "can_write": request_role(request) in SITE_WRITERS,
        "fragment": request.GET.get("fragment") == "1",
        "layout": "portal/fragment.html" if request.GET.get("fragment") == "1" else "base.html",
    }
    response = render(request, "portal/domains.html", context)
    response["Cache-Control"] = "no-store"
    return response


def _domain_action(success: str, service: Callable[..., object]) -> Callable[[HttpRequest, str, str], HttpResponse]:
    """A POST about one domain of the site (remove, check now), back to the site's page."""

    @member_required
    @require_POST
    def view(request: HttpRequest, name: str, domain: str) -> HttpResponse:
        actor = Actor.from_request(request)
        run_action(
            request,
            success.format(domain=domain),
            lambda: service(tenant=tenant_of(request), actor=actor, domain=domain, site=name),
        )
        return _back(name)

    return view


site_domain_remove = _domain_action("{domain} removed: the site stops answering on it.", services.domain_remove)
site_domain_verify = _domain_action("Checking {domain} now.", services.domain_verify_request)
