"""`Authorization: Bearer <key>` for the API. The middleware already found the key and routed the
request to the key's tenant; this class turns that into DRF's (user, auth) pair, and refuses a
read-scoped key every write.

The scope is enforced here, the one step every API view runs, rather than in a permission: views
replace their permission classes, and a new write endpoint must be closed to read keys without
anyone remembering to. A view whose non-safe method changes nothing (a dry run, a plan) lets read
keys use it by naming the method in a class attribute, `read_key_methods = ("POST",)`.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from tenants.audit import Actor
from tenants.models import ApiKey, User
from tenants.roles import READ_ONLY_KEY_REFUSED, role_of
from tenants.services import api_key_touch


class ReadOnlyKey(exceptions.PermissionDenied):
    """A read-scoped key asked for a write: 403, with its own problem type so clients can tell it
    from a role refusal."""

    default_detail = READ_ONLY_KEY_REFUSED
    default_code = "read-only-key"


def read_key_allows(request: Request) -> bool:
    """Whether a read-scoped key may make this request: safe methods, and the methods the view
    declares in `read_key_methods` because they change nothing."""
    method = (request.method or "").upper()
    if method in SAFE_METHODS:
        return True
    view = (request.parser_context or {}).get("view")
    declared: tuple[str, ...] = getattr(view, "read_key_methods", ())
    return method in {each.upper() for each in declared}


class ApiKeyAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiKey] | None:
        # Invalid keys never get this far: TenantResolutionMiddleware answers them with 401.
        key: ApiKey | None = getattr(request._request, "api_key", None)
        if key is None:
            return None
        if not key.created_by.is_active:
            raise exceptions.AuthenticationFailed("The owner of this API key is deactivated.")
        role = role_of(Actor.of_key(key), key.tenant) if key.tenant is not None else None
        # Kept for this request: permissions and views ask again (tenants.permissions.request_role).
        request._request._aipress_role = role  # type: ignore[attr-defined]  # a per-request cache on Django's request
        if key.tenant is not None and role is None:
            # A key acts for its creator: when they leave the organisation, so do their keys.
            raise exceptions.AuthenticationFailed(
                f"This API key's creator is no longer a member of “{key.tenant.name}”, so the key no "
                "longer works; a current member can create a new one."
            )
        api_key_touch(key)
        # Raised from authentication, which every view runs before its own permissions (see above).
        if key.is_read_only and not read_key_allows(request):
            raise ReadOnlyKey()
        return key.created_by, key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI document describes our keys: HTTP Bearer."""

    target_class = ApiKeyAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: object) -> dict:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "aip_<8 characters>_<40 characters>"}
