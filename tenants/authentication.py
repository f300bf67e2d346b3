"""`Authorization: Bearer <key>` for the API. The middleware already found the key and routed the
request to the key's tenant; this class turns that into DRF's (user, auth) pair."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from tenants.audit import Actor
from tenants.models import ApiKey, User
from tenants.roles import role_of
from tenants.services import api_key_touch


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
        return key.created_by, key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI document describes our keys: HTTP Bearer."""

    target_class = ApiKeyAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema: object) -> dict:
        return {"type": "http", "scheme": "bearer", "bearerFormat": "aip_<8 characters>_<40 characters>"}
