"""`Authorization: Bearer <key>` for the API. The middleware already found the key and routed the
request to the key's tenant; this class turns that into DRF's (user, auth) pair."""

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request

from tenants.models import ApiKey, User
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
        api_key_touch(key)
        return key.created_by, key

    def authenticate_header(self, request: Request) -> str:
        return self.keyword
