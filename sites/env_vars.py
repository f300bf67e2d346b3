"""Env vars and secrets of a site: names checked, values encrypted, changes applied to the site."""

import re

from django.db import transaction

from aipress.errors import InvalidInput
from sites import secrets
from sites.models import Site, SiteEnvVar, SiteEvent, SiteStatus
from sites.runtimes import get_runtime
from tenants.audit import Actor
from tenants.models import Tenant

NAME_PATTERN = re.compile(r"^[A-Z_][A-Z0-9_]*$")
# Names the platform sets itself; a site may not replace them.
RESERVED = frozenset(
    {
        "DB_NAME", "DB_USER", "DB_PASSWORD", "DB_HOST", "WP_HOME", "WP_SITEURL", "WP_CONTENT_DIR",
        "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
        "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT",
        "PATH", "HOME", "USER", "PHP_VALUE", "PHP_ADMIN_VALUE",
    }
)  # fmt: skip
RESERVED_PREFIXES = ("AIPRESS_", "WORDPRESS_", "PHP_")
MAX_VALUE_LENGTH = 4096
MASK = "••••••••"


def _check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or "") or len(name) > 128:
        raise InvalidInput("Use capital letters, digits and underscores, not starting with a digit.", field="name")
    if name in RESERVED or name.startswith(RESERVED_PREFIXES):
        raise InvalidInput(f"{name} is set by the platform; choose another name.", field="name")
    return name


def _check_value(value: str) -> str:
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidInput(f"Use at most {MAX_VALUE_LENGTH} characters.", field="value")
    if any(ch in value for ch in '"\n\r\0'):
        raise InvalidInput("Double quotes and line breaks cannot be passed to PHP's environment.", field="value")
    return value


def shown_value(var: SiteEnvVar) -> str:
    return MASK if var.sensitive else secrets.decrypt(var.ciphertext)


def env_for_runtime(site: Site) -> dict[str, str]:
    return {var.name: secrets.decrypt(var.ciphertext) for var in SiteEnvVar.objects.filter(site=site)}


def _apply(site: Site, tenant: Tenant, what: str) -> None:
    """Reach the running site now; a site still provisioning gets the values at its php_pool step."""
    from sites.services import site_spec

    if site.status in (SiteStatus.READY, SiteStatus.SUSPENDED):
        get_runtime(site.runtime).apply_env(site_spec(site=site, tenant=tenant))
    SiteEvent.objects.create(site=site, step="env", outcome=SiteEvent.Outcome.SUCCEEDED, detail=what)


def env_set(*, actor: Actor, site: Site, tenant: Tenant, name: str, value: str, sensitive: bool) -> SiteEnvVar:
    name = _check_name((name or "").strip())
    value = _check_value(value if value is not None else "")
    with transaction.atomic():
        existing = SiteEnvVar.objects.select_for_update().filter(site=site, name=name).first()
        # Once sensitive, always sensitive: clearing the flag would reveal the stored value.
        sensitive = sensitive or bool(existing and existing.sensitive)
        var, _ = SiteEnvVar.objects.update_or_create(
            site=site, name=name, defaults={"ciphertext": secrets.encrypt(value), "sensitive": sensitive}
        )
        _apply(site, tenant, f"{name} set by {actor.label}")
    return var


def env_delete(*, actor: Actor, site: Site, tenant: Tenant, name: str) -> bool:
    with transaction.atomic():
        deleted, _ = SiteEnvVar.objects.filter(site=site, name=name).delete()
        if deleted:
            _apply(site, tenant, f"{name} removed by {actor.label}")
    return bool(deleted)
