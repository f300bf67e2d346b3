"""One throttle: each API key has its own budget, each signed-in user theirs, anonymous callers per IP."""

from typing import TYPE_CHECKING

from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

if TYPE_CHECKING:  # importing rest_framework.views here would be circular: DRF imports us from it
    from rest_framework.views import APIView


class PerKeyOrUserThrottle(SimpleRateThrottle):
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
