"""The middleware only a browser needs, skipped for API calls that carry a key.

Static files, sessions, Django's authentication and messages cost about 2 ms a request together
(issue 14) and do nothing for a client that authenticates with a key: tenant resolution has already
found the key and set `request.api_key` and `request.user`. Each is listed in MIDDLEWARE as the
subclass below, which steps aside for such a call. Subclasses, not a wrapper around them: Django's
admin checks that each is installed, and accepts a subclass.

Only `/api/` paths step aside: a key sent to a portal page must never sign anyone in to the portal,
so those pages keep their sessions and ignore the key. A request with a bad key never gets here
(tenant resolution answers 401), so no request can choose to skip them and still be let in.
"""

from typing import Any

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.contrib.sessions.middleware import SessionMiddleware
from django.http import HttpRequest, HttpResponse
from whitenoise.middleware import WhiteNoiseMiddleware


def api_request_with_key(request: HttpRequest) -> bool:
    """An API call authenticated by a key (tenants.middleware has checked the key)."""
    return getattr(request, "api_key", None) is not None and request.path_info.startswith("/api/")


class _NotForApiKeys:
    """Calls the rest of the chain directly for an API call with a key; is itself for every other."""

    sync_capable = True
    async_capable = False

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if api_request_with_key(request):
            this: Any = self  # get_response is set by the Django middleware mixed in after this class
            return this.get_response(request)
        middleware: Any = super()
        return middleware.__call__(request)


class BrowserStaticFiles(_NotForApiKeys, WhiteNoiseMiddleware):
    pass


class BrowserSessions(_NotForApiKeys, SessionMiddleware):
    pass


class BrowserAuthentication(_NotForApiKeys, AuthenticationMiddleware):
    pass


class BrowserMessages(_NotForApiKeys, MessageMiddleware):
    pass
