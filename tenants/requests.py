"""Typed access to what tenant resolution and authentication put on a request."""

from typing import Any

from django.http import Http404, HttpRequest
from rest_framework.request import Request

from tenants.models import Tenant, User


def tenant_of(request: HttpRequest | Request) -> Tenant:
    """The tenant the request was routed to (TenantResolutionMiddleware); 404 on the public host."""
    tenant = getattr(request, "tenant", None)
    if not isinstance(tenant, Tenant):
        raise Http404("No organisation here.")
    return tenant


def user_of(request: HttpRequest | Request) -> User:
    """The signed-in user (views that call this require sign-in)."""
    user: Any = request.user
    if not isinstance(user, User):
        raise Http404("Sign in first.")
    return user
