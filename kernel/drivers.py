"""Drivers: each outside system sits behind one protocol per concern (where sites run, where secrets
are kept, later DNS, costs, the assistant, observability), with a local driver and a cloud one.

One setting, DRIVERS, maps each concern to a driver: a short name the concern knows, or a dotted
path to a class. The app that owns a concern registers it (its protocol, the environment variable
that chooses the driver, the drivers it knows) when it is ready; registering checks the chosen class
against the protocol right away, so a misconfigured process refuses to start and says which
variable to set. Everything else asks for a driver with `driver(concern)`.
"""

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class Concern:
    name: str
    protocol: type
    variable: str  # the environment variable an operator sets to choose the driver
    known: Mapping[str, str] = field(default_factory=dict)  # short name -> dotted path of the class


@dataclass(frozen=True)
class DriverReport:
    concern: str
    variable: str
    driver: str
    reachable: bool
    detail: str


_concerns: dict[str, Concern] = {}
_instances: dict[tuple[str, str], Any] = {}


def register(concern: Concern) -> None:
    """Make a concern known and check its configured driver now (at start-up)."""
    _concerns[concern.name] = concern
    driver_class(concern.name)


def concerns() -> list[Concern]:
    return list(_concerns.values())


def configured(concern_name: str) -> str:
    return str(settings.DRIVERS.get(concern_name, "") or "")


def _concern(name: str) -> Concern:
    try:
        return _concerns[name]
    except KeyError:
        raise ImproperlyConfigured(f"No app registered the driver concern {name!r}.") from None


def driver_class(concern_name: str, name: str | None = None) -> type:
    """The class of the driver `name` (default: the configured one), checked against the protocol."""
    concern = _concern(concern_name)
    chosen = name or configured(concern_name)
    known = ", ".join(sorted(concern.known)) or "none"
    if not chosen:
        raise ImproperlyConfigured(f"{concern.variable} is empty: set it to one of {known}.")
    path = concern.known.get(chosen, chosen)
    if "." not in path:
        raise ImproperlyConfigured(
            f"{concern.variable}={chosen} is not a known {concern.name} driver: use one of {known}, "
            "or the dotted path of a class."
        )
    try:
        cls = import_string(path)
    except ImportError as exc:
        raise ImproperlyConfigured(f"{concern.variable}={chosen}: cannot import {path} ({exc}).") from exc
    problems = protocol_mismatches(cls, concern.protocol)
    if problems:
        raise ImproperlyConfigured(
            f"{concern.variable}={chosen}: {path} is not a {concern.name} driver: {'; '.join(problems)}."
        )
    return cls


def protocol_mismatches(cls: type, protocol: type) -> list[str]:
    """What `cls` lacks of `protocol`: missing attributes, missing methods, different parameters."""
    problems = []
    members = {name for name in dir(protocol) if not name.startswith("_")}
    for ancestor in protocol.__mro__:
        members |= {name for name in getattr(ancestor, "__annotations__", {}) if not name.startswith("_")}
    for name in sorted(members):
        wanted = getattr(protocol, name, None)
        if not hasattr(cls, name):
            problems.append(f"it has no {name}")
            continue
        if callable(wanted):
            have = getattr(cls, name)
            if not callable(have):
                problems.append(f"its {name} is not a method")
                continue
            expected = list(inspect.signature(wanted).parameters)
            actual = list(inspect.signature(have).parameters)
            if expected != actual:
                problems.append(f"{name} takes ({', '.join(actual)}), not ({', '.join(expected)})")
    return problems


def driver(concern_name: str, name: str | None = None) -> Any:
    """The driver instance for a concern (one per process), by default the configured one."""
    chosen = name or configured(concern_name)
    key = (concern_name, chosen)
    if key not in _instances:
        _instances[key] = driver_class(concern_name, chosen)()
    return _instances[key]


def report() -> list[DriverReport]:
    """Each concern's chosen driver, and whether what it drives answers (its `check()`)."""
    reports = []
    for concern in concerns():
        chosen = configured(concern.name)
        try:
            detail = driver(concern.name).check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"; the reason is reported
            problem = f"{type(exc).__name__}: {exc}"[:300]
            reports.append(DriverReport(concern.name, concern.variable, chosen, False, problem))
        else:
            reports.append(DriverReport(concern.name, concern.variable, chosen, True, str(detail)))
    return reports


@receiver(setting_changed)
def _forget_instances(*, setting: str, **kwargs: Any) -> None:
    if setting == "DRIVERS":
        _instances.clear()
