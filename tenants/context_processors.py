from django.conf import settings
from django.http import HttpRequest

from tenants.permissions import request_role
from tenants.selectors import memberships_of_user

# The portal's navigation. Later issues switch their entries on as their apps arrive.
PORTAL_NAV = [
    ("Overview", "portal-home", True),
    ("Sites", "portal-sites", True),
    ("Secrets", "portal-secrets", True),
    ("Chat", "portal-chat", True),
    ("Billing", "portal-billing", True),
    ("Team", "portal-team", True),
    ("API keys", "portal-api-keys", True),
    ("Settings", "portal-settings", True),
]


def public_url(path: str = "/") -> str:
    port = f":{settings.PLATFORM_PORT}" if settings.PLATFORM_PORT else ""
    return f"{settings.PLATFORM_SCHEME}://{settings.PLATFORM_DOMAIN}{port}{path}"


def portal(request: HttpRequest) -> dict:
    tenant = getattr(request, "tenant", None)
    user = getattr(request, "user", None)
    return {
        "current_tenant": tenant,
        "current_role": request_role(request) if tenant is not None and user is not None else None,
        "my_memberships": memberships_of_user(user) if user is not None else [],
        "portal_nav": PORTAL_NAV,
        "public_url": public_url(),
        "platform_domain": settings.PLATFORM_DOMAIN,
    }
