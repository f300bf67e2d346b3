"""Who may do what. Every membership check lives here, for the API and for portal pages."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from tenants.audit import Actor
from tenants.models import MANAGER_ROLES, ApiKey
from tenants.roles import role_of


def request_role(request: HttpRequest | Request) -> str | None:
    """The role the request acts with in its tenant (tenants.roles: a key's is capped by its creator's)."""
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return None
    cached: str | bool | None = getattr(request, "_aipress_role", False)
    if cached is not False:
        return cached if isinstance(cached, str) else None
    role = role_of(Actor.from_request(request), tenant)
    request._aipress_role = role  # type: ignore[union-attr]  # a per-request cache on Django's request
    return role


SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _is_staff_session(request: Request) -> bool:
    return not isinstance(getattr(request, "auth", None), ApiKey) and bool(request.user and request.user.is_staff)


class IsTenantMember(BasePermission):
    """Any role in the request's tenant; platform staff may read. Outsiders get 404, as if the
    tenant had nothing for them, so a probe cannot even learn what exists."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        if getattr(request, "tenant", None) is None:
            raise Http404
        if request_role(request) is None:
            if request.method in SAFE_METHODS and _is_staff_session(request):
                return True
            raise Http404
        return True


class IsTenantManagerOrReadOnly(IsTenantMember):
    message = "Only owners and admins can change this."

    def has_permission(self, request: Request, view: APIView) -> bool:
        super().has_permission(request, view)
        return request.method in SAFE_METHODS or request_role(request) in MANAGER_ROLES


class IsPlatformStaff(BasePermission):
    """Staff endpoints: a staff user's session, or a staff (tenant-less) key created by staff."""

    message = "Platform staff only."

    def has_permission(self, request: Request, view: APIView) -> bool:
        auth = getattr(request, "auth", None)
        if isinstance(auth, ApiKey):
            return auth.is_staff_key and auth.created_by.is_staff
        return bool(request.user and request.user.is_authenticated and request.user.is_staff)


def member_required(
    view: Callable[..., HttpResponse] | None = None,
    *,
    roles: frozenset[str] | None = None,
    refused: str = "Only owners and admins can do this.",
) -> Callable[..., Any]:
    """Portal pages: sign-in required; non-members see 404. Platform staff who are not members may
    look (GET, HEAD) but change nothing, the same rule as the API."""

    def decorator(func: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(func)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if getattr(request, "tenant", None) is None:
                raise Http404
            role = request_role(request)
            if role is None:
                if not request.user.is_staff:
                    raise Http404
                if request.method not in SAFE_METHODS:
                    raise PermissionDenied("Staff can look at an organisation's portal but change it only as a member.")
            elif roles is not None and role not in roles:
                raise PermissionDenied(refused)
            return func(request, *args, **kwargs)

        return wrapper

    return decorator(view) if view is not None else decorator


manager_required = member_required(roles=MANAGER_ROLES)
