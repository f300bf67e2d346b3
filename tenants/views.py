"""Portal pages: the public host (landing, onboarding, invitations) and each tenant's host."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from kernel.errors import ServiceError
from kernel.portal import run_action
from tenants import selectors, services
from tenants.audit import Actor
from tenants.forms import ApiKeyForm, InviteForm, OrganisationForm, RenameForm, RoleForm
from tenants.models import TenantStatus
from tenants.permissions import manager_required, member_required
from tenants.requests import tenant_of, user_of

# --- Public host -----------------------------------------------------------------------------


def landing(request: HttpRequest) -> HttpResponse:
    return render(request, "public/landing.html")


@login_required
@require_http_methods(["GET", "POST"])
def onboarding(request: HttpRequest) -> HttpResponse:
    """Name the organisation; its workspace is prepared in the background."""
    form = OrganisationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            tenant = services.tenant_create(
                actor=Actor.from_request(request),
                slug=form.cleaned_data["slug"],
                name=form.cleaned_data["name"],
                owner=user_of(request),
            )
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            return HttpResponseRedirect(tenant.portal_url)
    return render(request, "public/onboarding.html", {"form": form})


@require_GET
def check_slug(request: HttpRequest) -> JsonResponse:
    """Live check for the onboarding form: is this address free and valid?"""
    slug = request.GET.get("slug", "").strip().lower()
    problem = services.tenant_slug_problem(slug)
    return JsonResponse({"slug": slug, "available": problem is None, "message": problem or "Available."})


@login_required
@require_http_methods(["GET", "POST"])
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    invitation = services.invitation_find(token)
    if invitation is None:
        raise Http404("No such invitation.")
    if request.method == "POST":
        try:
            membership = services.invitation_accept(token=token, user=user_of(request))
        except ServiceError as exc:
            messages.error(request, exc.message)
        else:
            return HttpResponseRedirect(membership.tenant.portal_url)
    return render(request, "public/invitation.html", {"invitation": invitation})


# --- Tenant host -----------------------------------------------------------------------------


@member_required
def home(request: HttpRequest) -> HttpResponse:
    tenant = tenant_of(request)
    if tenant.status in (TenantStatus.PROVISIONING, TenantStatus.FAILED):
        return render(request, "portal/preparing.html", {"tenant": tenant})
    context = {
        "members": selectors.member_list(tenant=tenant),
        "recent": selectors.audit_list(tenant=tenant, limit=10),
    }
    return render(request, "portal/home.html", context)


@member_required
def tenant_status(request: HttpRequest) -> JsonResponse:
    """Polled by the "preparing" page only when its websocket cannot connect."""
    return JsonResponse({"status": tenant_of(request).status})


@member_required
@require_http_methods(["GET", "POST"])
def team(request: HttpRequest) -> HttpResponse:
    tenant = tenant_of(request)
    form = InviteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.invitation_create(
                actor=Actor.from_request(request),
                tenant=tenant,
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
            )
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            messages.success(request, f"Invitation sent to {form.cleaned_data['email']}.")
            return redirect("portal-team")
    context = {
        "form": form,
        "members": selectors.member_list(tenant=tenant),
        "invitations": selectors.invitation_list(tenant=tenant),
        "role_form": RoleForm(),
    }
    return render(request, "portal/team.html", context)


@member_required
@require_POST
def member_role(request: HttpRequest, member_id: int) -> HttpResponse:
    membership = selectors.member_get(tenant=tenant_of(request), member_id=member_id)
    if membership is None:
        raise Http404
    role = request.POST.get("role", "")
    run_action(
        request,
        f"{membership.user.email} is now {role}.",
        lambda: services.membership_change_role(actor=Actor.from_request(request), membership=membership, role=role),
    )
    return redirect("portal-team")


@member_required
@require_POST
def member_remove(request: HttpRequest, member_id: int) -> HttpResponse:
    membership = selectors.member_get(tenant=tenant_of(request), member_id=member_id)
    if membership is None:
        raise Http404
    leaving = membership.user_id == request.user.pk
    run_action(
        request,
        "You left the organisation." if leaving else f"{membership.user.email} was removed.",
        lambda: services.membership_remove(actor=Actor.from_request(request), membership=membership),
    )
    if leaving and selectors.membership_for(user=user_of(request), tenant=tenant_of(request)) is None:
        from tenants.context_processors import public_url

        return HttpResponseRedirect(public_url())
    return redirect("portal-team")


@manager_required
@require_POST
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = selectors.invitation_get(tenant=tenant_of(request), invitation_id=invitation_id)
    if invitation is None:
        raise Http404
    run_action(
        request,
        f"Invitation to {invitation.email} revoked.",
        lambda: services.invitation_revoke(actor=Actor.from_request(request), invitation=invitation),
    )
    return redirect("portal-team")


@member_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    tenant = tenant_of(request)
    form = ApiKeyForm(request.POST or None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            key, raw = services.api_key_create(
                actor=Actor.from_request(request),
                tenant=tenant,
                name=form.cleaned_data["name"],
                role=form.cleaned_data["role"],
                scope=form.cleaned_data["scope"],
            )
        except ServiceError as exc:
            form.add_error(exc.field if exc.field in form.fields else None, exc.message)
        else:
            # Rendered once, in this response only; never stored, never shown again.
            new_key = {"name": key.name, "value": raw}
            form = ApiKeyForm()
    context = {"form": form, "keys": selectors.api_key_list(tenant=tenant), "new_key": new_key}
    response = render(request, "portal/api_keys.html", context)
    response["Cache-Control"] = "no-store"
    return response


@manager_required
@require_POST
def api_key_revoke(request: HttpRequest, key_id: int) -> HttpResponse:
    key = selectors.api_key_get(tenant=tenant_of(request), key_id=key_id)
    if key is None:
        raise Http404
    run_action(
        request,
        f"Key “{key.name}” revoked.",
        lambda: services.api_key_revoke(actor=Actor.from_request(request), key=key),
    )
    return redirect("portal-api-keys")


@member_required
@require_http_methods(["GET", "POST"])
def tenant_settings(request: HttpRequest) -> HttpResponse:
    tenant = tenant_of(request)
    form = RenameForm(request.POST or None, initial={"name": tenant.name})
    if request.method == "POST" and form.is_valid():
        renamed = run_action(
            request,
            "Saved.",
            lambda: services.tenant_rename(
                actor=Actor.from_request(request),
                tenant=tenant,
                name=form.cleaned_data["name"],
            ),
        )
        if renamed:
            return redirect("portal-settings")
    membership = selectors.membership_for(user=user_of(request), tenant=tenant)
    return render(request, "portal/settings.html", {"form": form, "membership": membership})
