"""Portal pages for sites, on the tenant's host: selectors to read, services to write, as the
signed-in person (their role is checked by the services; the pages only hide what they cannot do)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from kernel.errors import ServiceError
from kernel.portal import run_action
from sites import selectors, services
from sites.models import Site
from sites.rules import MAX_VALUE_LENGTH
from sites.services_urls import site_url_for
from tenants.audit import Actor
from tenants.permissions import member_required, request_role
from tenants.requests import tenant_of
from tenants.roles import SITE_WRITERS


def _site_context(request: HttpRequest, site: Site, **extra: object) -> dict:
    actor = Actor.from_request(request)
    url = site_url_for(services.site_hostname(tenant_of(request), site.slug))
    operations = selectors.site_operations(tenant=tenant_of(request), actor=actor, name=site.slug, limit=10)
    return {
        "site": site,
        "site_url": url,
        "admin_url": url + "wp-admin/",
        "events": selectors.site_events(tenant=tenant_of(request), actor=actor, name=site.slug, limit=50),
        "operations": operations,
        "current": next((op for op in operations if not op.is_finished), None),
        "env": selectors.site_env_vars(tenant=tenant_of(request), actor=actor, name=site.slug),
        "can_write": request_role(request) in SITE_WRITERS,
        "max_value_length": MAX_VALUE_LENGTH,
        **extra,
    }


@member_required
@require_http_methods(["GET", "POST"])
def sites_list(request: HttpRequest) -> HttpResponse:
    errors: dict[str, str] = {}
    actor = Actor.from_request(request)
    if request.method == "POST":
        try:
            site, _, password = services.site_request(
                tenant=tenant_of(request),
                actor=actor,
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
    sites = [
        (site, site_url_for(services.site_hostname(tenant_of(request), site.slug)))
        for site in selectors.site_list(tenant=tenant_of(request), actor=actor)
    ]
    context = {
        "sites": sites,
        "errors": errors,
        "form_values": request.POST,
        "can_write": request_role(request) in SITE_WRITERS,
    }
    return render(request, "portal/sites.html", context, status=400 if errors else 200)


@member_required
def site_detail(request: HttpRequest, name: str) -> HttpResponse:
    site = selectors.site_get(tenant=tenant_of(request), actor=Actor.from_request(request), name=name)
    return render(request, "portal/site.html", _site_context(request, site))


@member_required
@require_POST
def site_env_set(request: HttpRequest, name: str) -> HttpResponse:
    key = request.POST.get("name", "").strip()
    run_action(
        request,
        f"{key} saved; the site gets it in a moment.",
        lambda: services.env_set(
            tenant=tenant_of(request),
            actor=Actor.from_request(request),
            name=name,
            key=key,
            value=request.POST.get("value", ""),
            sensitive=request.POST.get("sensitive") == "on",
        ),
    )
    return redirect("portal-site", name=name)


@member_required
@require_POST
def site_env_delete(request: HttpRequest, name: str, key: str) -> HttpResponse:
    run_action(
        request,
        f"{key} removed.",
        lambda: services.env_delete(tenant=tenant_of(request), actor=Actor.from_request(request), name=name, key=key),
    )
    return redirect("portal-site", name=name)


STATE_CHANGES = {"suspend": services.site_suspend, "resume": services.site_resume, "retry": services.site_retry}


@member_required
@require_POST
def site_state(request: HttpRequest, name: str, action: str) -> HttpResponse:
    service = STATE_CHANGES.get(action)
    if service is None:
        messages.error(request, f"Unknown action “{action}”.")
        return redirect("portal-site", name=name)
    run_action(
        request,
        f"{action.capitalize()} queued; progress shows below.",
        lambda: service(tenant=tenant_of(request), actor=Actor.from_request(request), name=name),
    )
    return redirect("portal-site", name=name)


@member_required
@require_POST
def site_delete(request: HttpRequest, name: str) -> HttpResponse:
    site = selectors.site_get(tenant=tenant_of(request), actor=Actor.from_request(request), name=name)
    if request.POST.get("confirm", "").strip() != site.slug:
        messages.error(request, f"Type the site's name, {site.slug}, to delete it.")
        return redirect("portal-site", name=site.slug)
    deleted = run_action(
        request,
        f"{site.slug} is being deleted.",
        lambda: services.site_delete(tenant=tenant_of(request), actor=Actor.from_request(request), name=name),
    )
    return redirect("portal-sites") if deleted else redirect("portal-site", name=site.slug)
