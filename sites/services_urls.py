"""Site URLs from settings alone (the runtime needs them without a tenant object)."""

from django.conf import settings


def site_url_for(hostname: str) -> str:
    port = settings.SITES_PORT
    default = 443 if settings.SITES_SCHEME == "https" else 80
    suffix = "" if port == default else f":{port}"
    return f"{settings.SITES_SCHEME}://{hostname}{suffix}/"
