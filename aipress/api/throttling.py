"""Throttles: each API key, signed-in user or anonymous address has its own budget, and each tenant
one budget for all of them together, so that minting more keys never multiplies the allowed rate."""

from typing import TYPE_CHECKING

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

from kernel.client_address import client_ip

if TYPE_CHECKING:  # importing rest_framework.views here would be circular: DRF imports us from it
    from rest_framework.views import APIView


class _ClientAddressMixin:
    def get_ident(self, request: Request) -> str:
        # DRF would believe any X-Forwarded-For; we believe it only from TRUSTED_PROXIES.
        return client_ip(request) or "unknown"


class PerKeyOrUserThrottle(_ClientAddressMixin, SimpleRateThrottle):
    scope = "key_or_user"

    def get_cache_key(self, request: Request, view: "APIView") -> str:
        api_key = getattr(request, "auth", None)
        if api_key is not None and hasattr(api_key, "prefix"):
            ident = f"key:{api_key.pk}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


class PerTenantThrottle(_ClientAddressMixin, SimpleRateThrottle):
    """Every key and member of one tenant together."""

    scope = "tenant"

    def get_cache_key(self, request: Request, view: "APIView") -> str | None:
        tenant = getattr(request, "tenant", None)
        if tenant is None:
            return None  # the public host: staff endpoints, throttled per key or user only
        return self.cache_format % {"scope": self.scope, "ident": f"tenant:{tenant.pk}"}
