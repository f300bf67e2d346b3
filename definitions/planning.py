"""What applying a definition would change: a plain comparison of two TenantSpecs, in the order the
changes are made. No database here; the services check what needs one (secrets, limits)."""

from dataclasses import asdict, dataclass
from typing import Any

from definitions.spec import BudgetSpec, SiteSpec, TenantSpec


@dataclass(frozen=True)
class Change:
    action: str  # create | update | delete
    kind: str  # tenant | owners | budget | site | env | secretEnv | domain
    target: str  # what it applies to: the tenant, a site, "blog ANALYTICS_ID"
    detail: str  # one line a person reads in the plan
    site: str = ""
    key: str = ""
    before: Any = None
    after: Any = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def __str__(self) -> str:
        sign = {"create": "+", "update": "~", "delete": "-"}[self.action]
        return f"{sign} {self.kind} {self.target}: {self.detail}"


@dataclass
class Plan:
    tenant: str
    creating: bool
    changes: list[Change]

    @property
    def deletes_sites(self) -> list[str]:
        return [change.site for change in self.changes if change.kind == "site" and change.action == "delete"]

    def summary(self) -> str:
        if not self.changes:
            return f"{self.tenant}: no changes"
        counts = {
            action: sum(1 for c in self.changes if c.action == action) for action in ("create", "update", "delete")
        }
        parts = [f"{n} to {action}" for action, n in counts.items() if n]
        return f"{self.tenant}: {', '.join(parts)}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "tenant": self.tenant,
            "creating": self.creating,
            "summary": self.summary(),
            "changes": [change.as_dict() for change in self.changes],
            "deletes_sites": self.deletes_sites,
        }


def _shown(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[: limit - 1] + "…")


def _budget_changes(target: str, site: str, want: BudgetSpec | None, have: BudgetSpec | None) -> list[Change]:
    if want == have:
        return []
    if want is None and have is not None:
        return [Change("delete", "budget", target, f"remove the budget of {have.describe()}", site=site)]
    if want is None:
        return []
    action = "create" if have is None else "update"
    detail = want.describe() if have is None else f"{have.describe()} -> {want.describe()}"
    return [Change(action, "budget", target, detail, site=site, after=want.document(site=bool(site)))]


def _site_changes(want: SiteSpec, have: SiteSpec | None, tenant: str) -> list[Change]:
    name = want.name
    changes: list[Change] = []
    if have is None:
        changes.append(
            Change(
                "create",
                "site",
                name,
                f"a new site “{want.title}” with {want.max_workers} PHP workers at most",
                site=name,
                after={"title": want.title, "maxWorkers": want.max_workers},
            )
        )
        have = SiteSpec(name=name, title=want.title, max_workers=want.max_workers)
    updates: dict[str, tuple[Any, Any]] = {}
    if want.title != have.title:
        updates["title"] = (have.title, want.title)
    if want.max_workers != have.max_workers:
        updates["maxWorkers"] = (have.max_workers, want.max_workers)
    if updates:
        detail = "; ".join(f"{key}: {before!r} -> {after!r}" for key, (before, after) in updates.items())
        after = {key: after for key, (_, after) in updates.items()}
        changes.append(Change("update", "site", name, detail, site=name, after=after))
    changes += _env_changes(want, have)
    changes += _secret_env_changes(want, have)
    for domain in sorted(set(want.domains) - set(have.domains)):
        detail = "add (verified by DNS before it serves)"
        changes.append(Change("create", "domain", f"{name} {domain}", detail, site=name, key=domain))
    for domain in sorted(set(have.domains) - set(want.domains)):
        changes.append(Change("delete", "domain", f"{name} {domain}", "remove", site=name, key=domain))
    changes += _budget_changes(f"{tenant}/{name}", name, want.budget, have.budget)
    return changes


def _env_changes(want: SiteSpec, have: SiteSpec) -> list[Change]:
    name = want.name
    changes: list[Change] = []
    for key in sorted(set(want.env) | set(have.env)):
        new, old = want.env.get(key), have.env.get(key)
        if new == old:
            continue
        if new is None and key in want.secret_env:
            continue  # listed below, as a plain value turned into a secret reference
        if new is None:
            changes.append(Change("delete", "env", f"{name} {key}", "remove", site=name, key=key))
        elif old is None and key in have.secret_env:
            continue  # listed below, as a secret reference turned into a plain value
        else:
            detail = f"set to {_shown(new)}" if old is None else f"{_shown(old)} -> {_shown(new)}"
            changes.append(
                Change(
                    "create" if old is None else "update", "env", f"{name} {key}", detail, site=name, key=key, after=new
                )
            )
    return changes


def _secret_env_changes(want: SiteSpec, have: SiteSpec) -> list[Change]:
    name = want.name
    changes: list[Change] = []
    for key in sorted(set(want.secret_env) | set(have.secret_env)):
        new_ref, old_ref = want.secret_env.get(key), have.secret_env.get(key)
        if new_ref == old_ref:
            continue
        if new_ref is None:
            if key in want.env:  # becomes a plain value
                changes.append(
                    Change("update", "env", f"{name} {key}", f"secret {old_ref} -> {_shown(want.env[key])}",
                           site=name, key=key, after=want.env[key])
                )  # fmt: skip
            else:
                changes.append(
                    Change("delete", "secretEnv", f"{name} {key}", f"stop using secret {old_ref}", site=name, key=key)
                )
            continue
        detail = f"from secret {new_ref}" if old_ref is None else f"secret {old_ref} -> {new_ref}"
        action = "create" if old_ref is None and key not in have.env else "update"
        changes.append(Change(action, "secretEnv", f"{name} {key}", detail, site=name, key=key, after=new_ref))
    return changes


def plan_changes(want: TenantSpec, have: TenantSpec | None) -> Plan:
    """Every change that turns `have` (None: no such tenant yet) into `want`, in the order applied:
    the tenant, its owners and budget, then each site (created before anything is set on it), and
    deletions of whole sites last."""
    changes: list[Change] = []
    if have is None:
        changes.append(
            Change("create", "tenant", want.name, f"a new organisation “{want.display_name}”", after=want.display_name)
        )
        have = TenantSpec(name=want.name, display_name=want.display_name, owners=want.owners[:1])
    elif want.display_name != have.display_name:
        detail = f"{have.display_name!r} -> {want.display_name!r}"
        changes.append(Change("update", "tenant", want.name, f"display name {detail}", after=want.display_name))
    if set(want.owners) != set(have.owners):
        added = sorted(set(want.owners) - set(have.owners))
        demoted = sorted(set(have.owners) - set(want.owners))
        parts = [f"+{email}" for email in added] + [f"{email} becomes an admin" for email in demoted]
        changes.append(Change("update", "owners", want.name, ", ".join(parts), after=list(want.owners)))
    changes += _budget_changes(want.name, "", want.budget, have.budget)
    for site in want.sites:
        changes += _site_changes(site, have.site(site.name), want.name)
    for site in have.sites:
        if want.site(site.name) is None:
            changes.append(
                Change(
                    "delete", "site", site.name, "DELETE the site with its files, database and uploads", site=site.name
                )
            )
            # Its domains are let go at once, so another site of the file may take one.
            for domain in site.domains:
                changes.append(
                    Change("delete", "domain", f"{site.name} {domain}", "remove", site=site.name, key=domain)
                )
    creating = any(change.kind == "tenant" and change.action == "create" for change in changes)
    return Plan(tenant=want.name, creating=creating, changes=changes)
