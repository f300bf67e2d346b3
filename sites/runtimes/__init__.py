"""Where sites run. One protocol (base.Runtime), chosen by SITES_RUNTIME; `local` is the default."""

from django.conf import settings
from django.utils.module_loading import import_string

from sites.runtimes.base import Runtime

RUNTIMES = {"local": "sites.runtimes.local.runtime.LocalRuntime"}


def get_runtime(name: str | None = None) -> Runtime:
    name = name or settings.SITES_RUNTIME
    try:
        return import_string(RUNTIMES[name])()
    except KeyError:
        raise ValueError(f"Unknown site runtime {name!r}; known: {', '.join(RUNTIMES)}") from None
