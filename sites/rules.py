"""What a site's env var may be called and hold: one definition, for the API, the portal and the CLI."""

import re

from kernel.errors import InvalidInput

NAME_PATTERN = re.compile(r"^[A-Z_][A-Z0-9_]*$")
MAX_NAME_LENGTH = 128
MAX_VALUE_LENGTH = 8192

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
            # What the Cloud Run runtime sets and the image reads (docs/wordpress-runtime.md).
            "DB_SOCKET", "WP_TITLE", "WP_ADMIN_EMAIL", "WP_ADMIN_PASSWORD", "MAX_PHP_WORKERS", "DISABLE_WP_CRON",
            "SITE_DIR", "UPLOADS_DIR", "PORT",
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
    "K_": "is reserved by Cloud Run",  # K_SERVICE, K_REVISION, K_CONFIGURATION
}


def _refusal(name: str) -> str | None:
    if name in REFUSED_NAMES:
        return REFUSED_NAMES[name]
    if name.endswith("_FILE") and name.removesuffix("_FILE") in REFUSED_NAMES:  # the image reads NAME_FILE too
        return _SET_BY_PLATFORM
    return next((reason for prefix, reason in REFUSED_PREFIXES.items() if name.startswith(prefix)), None)


def refused(name: str) -> bool:
    """Whether a site may not use `name` (also for values stored before a rule was added)."""
    return not NAME_PATTERN.fullmatch(name or "") or len(name) > MAX_NAME_LENGTH or _refusal(name) is not None


def check_env_name(name: str) -> str:
    if not NAME_PATTERN.fullmatch(name or "") or len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(
            f"Use 1 to {MAX_NAME_LENGTH} capital letters, digits and underscores, not starting with a digit.",
            field="name",
        )
    reason = _refusal(name)
    if reason:
        raise InvalidInput(f"{name} {reason}; choose another name.", field="name")
    return name


def check_env_value(value: str) -> str:
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidInput(f"Use at most {MAX_VALUE_LENGTH} characters.", field="value")
    if "\0" in value:
        raise InvalidInput("An environment value cannot hold a NUL character.", field="value")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("Use text only: the value holds a character UTF-8 cannot carry.", field="value") from None
    return value
