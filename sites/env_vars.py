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
MAX_NAME_LENGTH = 128
MAX_VALUE_LENGTH = 8192
MASK = "••••••••"

# Names a site may not use, each with the reason a person is shown.
_SET_BY_PLATFORM = "is set by the platform"
_LOADER = "changes how programs are loaded, which would let a value run code the site chose"
_STARTUP = "changes how PHP or a shell starts, which would let a value run code the site chose"
_REQUEST = "is part of every web request, which would hide the value"
REFUSED_NAMES: dict[str, str] = {
    **dict.fromkeys(
        (
            "DB_NAME", "DB_USER", "DB_PASSWORD", "DB_HOST", "WP_HOME", "WP_SITEURL", "WP_CONTENT_DIR",
            "AUTH_KEY", "SECURE_AUTH_KEY", "LOGGED_IN_KEY", "NONCE_KEY",
            "AUTH_SALT", "SECURE_AUTH_SALT", "LOGGED_IN_SALT", "NONCE_SALT",
            "PATH", "HOME", "USER", "LOGNAME", "SHELL", "TMPDIR",
        ),
        _SET_BY_PLATFORM,
    ),
    **dict.fromkeys(
        ("GCONV_PATH", "HOSTALIASES", "LOCALDOMAIN", "RES_OPTIONS", "NLSPATH", "TZDIR", "LOCPATH", "GETCONF_DIR"),
        _LOADER,
    ),
    **dict.fromkeys(
        ("PHPRC", "BASH_ENV", "ENV", "IFS", "CDPATH", "PS4", "SHELLOPTS", "PERL5OPT", "PYTHONSTARTUP"), _STARTUP
    ),
    **dict.fromkeys(
        (
            "CONTENT_LENGTH", "CONTENT_TYPE", "DOCUMENT_ROOT", "DOCUMENT_URI", "GATEWAY_INTERFACE", "HTTPS",
            "PATH_INFO", "PATH_TRANSLATED", "QUERY_STRING", "REDIRECT_STATUS", "SCRIPT_FILENAME", "SCRIPT_NAME",
            "PHP_SELF",
        ),
        _REQUEST,
    ),
}  # fmt: skip
REFUSED_PREFIXES: dict[str, str] = {
    "AIPRESS_": _SET_BY_PLATFORM,
    "WORDPRESS_": _SET_BY_PLATFORM,
    "PHP_": _STARTUP,
    "LD_": _LOADER,
    "MALLOC_": _LOADER,
    "GLIBC_": _LOADER,
    "BASH_FUNC_": _STARTUP,
    "HTTP_": _REQUEST,
    "REMOTE_": _REQUEST,
    "REQUEST_": _REQUEST,
    "SERVER_": _REQUEST,
    "FCGI_": _REQUEST,
}


def _refusal(name: str) -> str | None:
    if name in REFUSED_NAMES:
        return REFUSED_NAMES[name]
    return next((reason for prefix, reason in REFUSED_PREFIXES.items() if name.startswith(prefix)), None)


def _check_name(name: str) -> str:
    if not NAME_PATTERN.match(name or "") or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"Use 1 to {MAX_NAME_LENGTH} capital letters, digits and underscores, not starting with a digit.",
            field="name",
        )
    reason = _refusal(name)
    if reason:
        raise InvalidInput(f"{name} {reason}; choose another name.", field="name")
    return name


def _check_value(value: str) -> str:
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidInput(f"Use at most {MAX_VALUE_LENGTH} characters.", field="value")
    if "\0" in value:
        raise InvalidInput("An environment value cannot hold a NUL character.", field="value")
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
