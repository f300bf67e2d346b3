"""A tenant definition once read: every field filled in, with the platform's default where the file
leaves one out. Planning compares two of these (what the file wants, what exists), so a field left
out means "the default", never "keep whatever is there"."""

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from definitions.schema import API_VERSION, KIND

DEFAULT_MAX_WORKERS = 4  # sites.models.Site.max_php_workers' default
DEFAULT_BUDGET_ACTION = "notify"


@dataclass(frozen=True)
class BudgetSpec:
    monthly: Decimal
    # None until planned: then the currency the budget is in already, else the tenant's billing
    # currency (the one its costs are in), as the portal and the API choose it.
    currency: str | None
    action: str = DEFAULT_BUDGET_ACTION

    def document(self, *, site: bool) -> dict[str, Any]:
        shown: dict[str, Any] = {"monthly": _number(self.monthly)}
        if self.currency:
            shown["currency"] = self.currency
        if site and self.action != DEFAULT_BUDGET_ACTION:
            shown["action"] = self.action
        return shown

    def describe(self) -> str:
        acting = f", {self.action} at 100%" if self.action != DEFAULT_BUDGET_ACTION else ""
        return f"{_number(self.monthly)} {self.currency or ''}/month{acting}".replace(" /", "/")


@dataclass(frozen=True)
class SiteSpec:
    name: str
    title: str
    max_workers: int = DEFAULT_MAX_WORKERS
    env: dict[str, str] = field(default_factory=dict)
    # env var name -> tenant secret name
    secret_env: dict[str, str] = field(default_factory=dict)
    domains: tuple[str, ...] = ()
    budget: BudgetSpec | None = None

    def document(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"name": self.name, "title": self.title, "scaling": {"maxWorkers": self.max_workers}}
        if self.env:
            shown["env"] = dict(sorted(self.env.items()))
        if self.secret_env:
            shown["secretEnv"] = {key: {"fromSecret": secret} for key, secret in sorted(self.secret_env.items())}
        if self.domains:
            shown["domains"] = sorted(self.domains)
        if self.budget is not None:
            shown["budget"] = self.budget.document(site=True)
        return shown


@dataclass(frozen=True)
class TenantSpec:
    name: str
    display_name: str
    owners: tuple[str, ...]
    budget: BudgetSpec | None = None
    sites: tuple[SiteSpec, ...] = ()
    # Where it was read from (a file's path, "request body") and the line of each field, for messages.
    source: str = ""
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict, compare=False, repr=False)

    def line_of(self, path: tuple[str | int, ...]) -> int | None:
        """The line of `path` in the file, or of the nearest part of it there."""
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path)

    def site(self, name: str) -> SiteSpec | None:
        return next((site for site in self.sites if site.name == name), None)

    def document(self) -> dict[str, Any]:
        """The definition as a file would hold it: what `export` writes and GET returns."""
        spec: dict[str, Any] = {"owners": sorted(self.owners)}
        if self.budget is not None:
            spec["budget"] = self.budget.document(site=False)
        spec["sites"] = [site.document() for site in sorted(self.sites, key=lambda s: s.name)]
        return {
            "apiVersion": API_VERSION,
            "kind": KIND,
            "metadata": {"name": self.name, "displayName": self.display_name},
            "spec": spec,
        }


def _number(amount: Decimal) -> int | float:
    """200 rather than 200.00 in a file a person reads; cents when there are some."""
    return int(amount) if amount == amount.to_integral_value() else float(amount)
