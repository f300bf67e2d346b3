"""Portal pages for sites, on the tenant's host: selectors to read, services to write, as the
signed-in person (their role is checked by the services; the pages only hide what they cannot do)."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from kernel.errors import NotPermitted, ServiceError
from kernel.portal import run_action
from sites import selectors, services
from sites.models import Site
from sites.rules import MAX_VALUE_LENGTH
from sites.services_urls import site_url_for
from tenants.audit import Actor
from tenants.permissions import member_required, request_role
from tenants.requests import tenant_of
from tenants.roles import MANAGER_ROLES, SITE_WRITERS


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
        "page_cache": selectors.site_page_cache(tenant=tenant_of(request), actor=actor, name=site.slug),
        "can_write": request_role(request) in SITE_WRITERS,
        "max_value_length": MAX_VALUE_LENGTH,
        # Only those who manage secrets may hand one to a site (sites.services.env_link_secret).
        "secret_names": [secret["name"] for secret in selectors.tenant_secrets(tenant=tenant_of(request), actor=actor)]
        if request_role(request) in MANAGER_ROLES
        else [],
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
    secret = request.POST.get("from_secret", "").strip()
    if secret and request.POST.get("value", ""):
        messages.error(request, "Give a value or choose a secret, not both.")
        return redirect("portal-site", name=name)
    if secret:
        run_action(
            request,
            f"{key} now takes its value from the secret {secret}; the site gets it in a moment.",
            lambda: services.env_link_secret(
                tenant=tenant_of(request), actor=Actor.from_request(request), name=name, key=key, secret=secret
            ),
        )
        return redirect("portal-site", name=name)
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
    if action == "purge-cache":
        run_action(
            request,
            "The page cache is empty: every visitor gets freshly made pages.",
            lambda: services.site_cache_purge(tenant=tenant_of(request), actor=Actor.from_request(request), name=name),
        )
        return redirect("portal-site", name=name)
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


# --- Tenant secrets ------------------------------------------------------------------------------


@member_required
@require_http_methods(["GET", "POST"])
def secrets_page(request: HttpRequest) -> HttpResponse:
    """The tenant's secrets (names, users, dates) and, for owners and admins, a form to set one.
    A value typed here is never rendered back, not even when the form has an error."""
    tenant, actor = tenant_of(request), Actor.from_request(request)
    errors: dict[str, str] = {}
    status = 200
    form_name = ""
    if request.method == "POST":
        form_name = request.POST.get("name", "").strip()
        try:
            _, created = services.tenant_secret_set(
                tenant=tenant, actor=actor, name=form_name, value=request.POST.get("value", "")
            )
        except ServiceError as exc:
            errors[exc.field or "form"] = exc.message
            status = 403 if isinstance(exc, NotPermitted) else 400
        else:
            done = "saved" if created else "replaced; the sites that use it get the new value in a moment"
            messages.success(request, f"Secret {form_name} {done}.")
            return redirect("portal-secrets")
    context = {
        "secrets": selectors.tenant_secrets(tenant=tenant, actor=actor),
        "errors": errors,
        "form_name": form_name,
        "can_manage": request_role(request) in MANAGER_ROLES,
        "max_value_length": MAX_VALUE_LENGTH,
    }
    response = render(request, "portal/secrets.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


@member_required(roles=MANAGER_ROLES, refused=services.SECRETS_REFUSED)
@require_http_methods(["GET", "POST"])
def secret_delete(request: HttpRequest, name: str) -> HttpResponse:
    """A confirmation page (who uses the secret), then the deletion on its form's POST."""
    tenant, actor = tenant_of(request), Actor.from_request(request)
    secret = selectors.tenant_secret(tenant=tenant, actor=actor, name=name)
    if request.method == "POST" and request.POST.get("confirm", "") == secret["name"]:
        run_action(
            request,
            f"Secret {secret['name']} deleted.",
            lambda: services.tenant_secret_delete(tenant=tenant, actor=actor, name=secret["name"]),
        )
        return redirect("portal-secrets")
    return render(request, "portal/secret_delete.html", {"secret": secret})
