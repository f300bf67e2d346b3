"""What a custom domain may be. A domain a tenant types reaches an nginx config, DNS queries, the
Cloudflare API and other tenants' views: only a plain hostname passes, lowercase, ASCII (an
internationalised name is taken in its xn-- form)."""

import ipaddress
import re

from django.conf import settings

from kernel.errors import InvalidInput

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
HOSTNAME = re.compile(r"^(?=.{4,253}$)(?:(?!-)[a-z0-9-]{1,63}(?<!-)\.)+(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


def normalise(domain: str) -> str:
    """The domain as the platform keeps it: lowercase ASCII, no final dot, no scheme or path pasted
    along with it."""
    value = (domain or "").strip().lower()
    if value.startswith(("http://", "https://")) or "/" in value:
        raise InvalidInput("Give the domain alone, like www.example.com: no http:// and no path.", field="domain")
    value = value.removesuffix(".")
    if value and not value.isascii():
        try:
            value = value.encode("idna").decode("ascii")
        except UnicodeError:
            raise InvalidInput(f"“{domain}” is not a valid internationalised domain name.", field="domain") from None
    return value


def validate_domain(domain: str) -> str:
    value = normalise(domain)
    if not value:
        raise InvalidInput("Give a domain, like www.example.com.", field="domain")
    if ":" in value:
        raise InvalidInput("Give the domain without a port.", field="domain")
    try:
        ipaddress.ip_address(value)
    except ValueError:
        pass
    else:
        raise InvalidInput("Give a domain name, not an IP address.", field="domain")
    if value.startswith("*."):
        raise InvalidInput("Wildcard domains are not supported: add each name (www.example.com).", field="domain")
    labels = value.split(".")
    if len(labels) < 2 or not HOSTNAME.fullmatch(value) or not all(_LABEL.fullmatch(label) for label in labels):
        raise InvalidInput(
            f"“{value}” is not a valid domain: use letters, digits and hyphens in dot-separated parts "
            "(up to 63 characters each, 253 in all), ending in a real top-level domain (www.example.com).",
            field="domain",
        )
    if not _TLD.fullmatch(labels[-1]):
        raise InvalidInput(f"“{labels[-1]}” is not a top-level domain.", field="domain")
    for own in platform_zones():
        if value == own or value.endswith(f".{own}"):
            raise InvalidInput(
                f"{value} is in the platform's own zone ({own}): every site already has its own name there.",
                field="domain",
            )
    return value


def platform_zones() -> list[str]:
    return [zone for zone in (settings.SITES_DOMAIN, settings.PLATFORM_DOMAIN) if zone]


def is_apex(domain: str) -> bool:
    """Whether the domain is a zone's apex (example.com), where a CNAME is not allowed. Two labels is
    the common case; a name under a two-part suffix (shop.co.uk) is taken for a subdomain, and its
    advice says what to do at an apex too."""
    return domain.count(".") == 1
