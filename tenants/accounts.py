"""allauth glue: where to land after sign-in, and which cross-host redirects are safe."""

from urllib.parse import urlsplit

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings
from django.http import HttpRequest

from tenants.requests import user_of
from tenants.selectors import memberships_of_user


def is_platform_host(host: str) -> bool:
    host = host.split(":", maxsplit=1)[0].lower()
    return host == settings.PLATFORM_DOMAIN or host.endswith("." + settings.PLATFORM_DOMAIN)


class AccountAdapter(DefaultAccountAdapter):
    def is_safe_url(self, url: str | None) -> bool:
        # The public host and every tenant host share one sign-in, so `next` may point at any of them.
        if not url:
            return False
        parts = urlsplit(url)
        if not parts.netloc:
            return super().is_safe_url(url)
        return parts.scheme in ("http", "https") and is_platform_host(parts.netloc)

    def get_login_redirect_url(self, request: HttpRequest) -> str:
        tenant = getattr(request, "tenant", None)
        if tenant is not None:
            return "/"
        memberships = memberships_of_user(user_of(request))
        if len(memberships) == 1:
            return memberships[0].tenant.portal_url
        return "/" if memberships else "/onboarding/"

    def get_signup_redirect_url(self, request: HttpRequest) -> str:
        return "/onboarding/"
