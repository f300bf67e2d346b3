"""Portal pages for sites, on the tenant's host."""

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from aipress.errors import ServiceError
from aipress.portal import run_action
from sites import env_vars, selectors, services
from sites.models import Site, SiteEnvVar
from sites.permissions import SITE_WRITERS
from sites.services_urls import site_url_for
from tenants.audit import Actor
from tenants.permissions import member_required, request_role


def _site_or_404(name: str) -> Site:
    site = selectors.site_get(name)
    if site is None:
        raise Http404
    return site


def _site_context(request: HttpRequest, site: Site, **extra: object) -> dict:
    url = site_url_for(services.site_hostname(request.tenant, site.slug))
    return {
        "site": site,
        "site_url": url,
        "admin_url": url + "wp-admin/",
        "events": selectors.site_events(site, limit=50),
        "env": [(var, env_vars.shown_value(var)) for var in SiteEnvVar.objects.filter(site=site)],
        "can_write": request_role(request) in SITE_WRITERS,
        **extra,
    }


@member_required
@require_http_methods(["GET", "POST"])
def sites_list(request: HttpRequest) -> HttpResponse:
    errors: dict[str, str] = {}
    if request.method == "POST":
        if request_role(request) not in SITE_WRITERS:
            raise Http404
        try:
            site, password = services.site_request(
                actor=Actor.from_request(request),
                tenant=request.tenant,
                name=request.POST.get("name", ""),
                title=request.POST.get("title", ""),
            )
        except ServiceError as exc:
            errors[exc.field or "form"] = exc.message
        else:
            # The admin password is in this response only: rendered, never redirected to.
            response = render(request, "portal/site.html", _site_context(request, site, new_password=password))
            response["Cache-Control"] = "no-store"
            return response
    sites = [(site, site_url_for(services.site_hostname(request.tenant, site.slug))) for site in selectors.site_list()]
    context = {
        "sites": sites,
        "errors": errors,
        "form_values": request.POST,
        "can_write": request_role(request) in SITE_WRITERS,
    }
    return render(request, "portal/sites.html", context, status=400 if errors else 200)


@member_required
def site_detail(request: HttpRequest, name: str) -> HttpResponse:
    return render(request, "portal/site.html", _site_context(request, _site_or_404(name)))


@member_required(roles=SITE_WRITERS)
@require_POST
def site_env_set(request: HttpRequest, name: str) -> HttpResponse:
    site = _site_or_404(name)
    key = request.POST.get("name", "").strip()
    run_action(
        request,
        f"{key} saved; the site sees it now.",
        lambda: env_vars.env_set(
            actor=Actor.from_request(request),
            site=site,
            tenant=request.tenant,
            name=key,
            value=request.POST.get("value", ""),
            sensitive=request.POST.get("sensitive") == "on",
        ),
    )
    return redirect("portal-site", name=site.slug)


@member_required(roles=SITE_WRITERS)
@require_POST
def site_env_delete(request: HttpRequest, name: str, key: str) -> HttpResponse:
    site = _site_or_404(name)
    run_action(
        request,
        f"{key} removed.",
        lambda: env_vars.env_delete(actor=Actor.from_request(request), site=site, tenant=request.tenant, name=key),
    )
    return redirect("portal-site", name=site.slug)


@member_required(roles=SITE_WRITERS)
@require_POST
def site_state(request: HttpRequest, name: str, action: str) -> HttpResponse:
    site = _site_or_404(name)
    service = {"suspend": services.site_suspend, "resume": services.site_resume}.get(action)
    if service is None:
        raise Http404
    run_action(
        request,
        f"{site.slug} {action}d.",
        lambda: service(actor=Actor.from_request(request), site=site, tenant=request.tenant),
    )
    return redirect("portal-site", name=site.slug)


@member_required(roles=SITE_WRITERS)
@require_POST
def site_delete(request: HttpRequest, name: str) -> HttpResponse:
    site = _site_or_404(name)
    if request.POST.get("confirm", "").strip() != site.slug:
        messages.error(request, f"Type the site's name, {site.slug}, to delete it.")
        return redirect("portal-site", name=site.slug)
    run_action(
        request,
        f"{site.slug} is being deleted.",
        lambda: services.site_delete(actor=Actor.from_request(request), site=site, tenant=request.tenant),
    )
    return redirect("portal-sites")
