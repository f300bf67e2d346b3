"""Who may change sites: owners, admins and members; billing only reads."""

from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.views import APIView

from tenants.models import Role
from tenants.permissions import SAFE_METHODS, request_role

SITE_WRITERS = frozenset({Role.OWNER, Role.ADMIN, Role.MEMBER})


class CanManageSites(BasePermission):
    message = "Your role can see sites but not change them."

    def has_permission(self, request: Request, view: APIView) -> bool:
        return request.method in SAFE_METHODS or request_role(request) in SITE_WRITERS
