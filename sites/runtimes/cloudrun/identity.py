"""Each site's own service account: what its Cloud Run service runs as, and the only member given
access to its bucket and its secrets; and, to reach its database through the Cloud SQL volume,
`roles/cloudsql.client` on the project, conditioned on the shared instance alone (Cloud SQL has no
per-instance policy). One conditional binding holds every site's account; a project's policy holds at
most 1,500 members, which bounds the sites of one project."""

from typing import Any

from sites.runtimes.cloudrun import clients, names
from sites.runtimes.cloudrun.config import CloudConfig, config
from sites.runtimes.cloudrun.errors import cloud_call, status_of
from sites.spec import SiteSpec


def _resource(project: str, spec: SiteSpec) -> str:
    return f"projects/{project}/serviceAccounts/{names.service_account_email(project, spec)}"


def ensure(spec: SiteSpec) -> str:
    """The account's email, the account made if it is missing."""
    cfg = config()
    email = names.service_account_email(cfg.project, spec)
    if present(spec):
        return email
    body = {
        "accountId": names.service_account_id(spec),
        "serviceAccount": {
            "displayName": f"AIPress site {spec.tenant_id}/{spec.site_id}",
            "description": f"Runs the AIPress site {spec.key}; owns its bucket and secrets only.",
        },
    }
    with cloud_call(f"creating the service account {email}"):
        try:
            clients.iam().projects().serviceAccounts().create(name=f"projects/{cfg.project}", body=body).execute()
        except Exception as exc:
            if status_of(exc) != 409:  # made meanwhile (a worker that died after creating it)
                raise
    return email


def present(spec: SiteSpec) -> bool:
    cfg = config()
    with cloud_call("looking for the site's service account"):
        try:
            clients.iam().projects().serviceAccounts().get(name=_resource(cfg.project, spec)).execute()
        except Exception as exc:
            if status_of(exc) == 404:
                return False
            raise
    return True


def remove(spec: SiteSpec) -> None:
    cfg = config()
    with cloud_call("deleting the site's service account"):
        try:
            clients.iam().projects().serviceAccounts().delete(name=_resource(cfg.project, spec)).execute()
        except Exception as exc:
            if status_of(exc) != 404:
                raise


SQL_CLIENT = "roles/cloudsql.client"
POLICY_WRITES = 5  # read-modify-write attempts when another writer changed the policy meanwhile


def _condition(cfg: CloudConfig) -> dict[str, str]:
    instance = f"projects/{cfg.project}/instances/{cfg.sql_instance}"
    return {
        "title": f"aipress-sites-{cfg.sql_instance}",
        "description": "AIPress sites reach the shared Cloud SQL instance, and no other",
        "expression": f'resource.name == "{instance}" && resource.service == "sqladmin.googleapis.com"',
    }


def _change_sql_access(spec: SiteSpec, *, granted: bool) -> None:
    """Add or remove the site's account in the conditional cloudsql.client binding, by a
    read-modify-write with the policy's etag, read again when another writer got there first."""
    cfg = config()
    member = f"serviceAccount:{names.service_account_email(cfg.project, spec)}"
    projects = clients.resourcemanager().projects()
    what = "letting the site's account reach Cloud SQL" if granted else "taking the site's Cloud SQL access away"
    with cloud_call(what):
        for attempt in range(POLICY_WRITES):
            policy = projects.getIamPolicy(
                resource=cfg.project, body={"options": {"requestedPolicyVersion": 3}}
            ).execute()
            if _has_sql_access(policy, cfg, member) == granted:
                return
            policy["bindings"] = _with_member(policy.get("bindings", []), cfg, member, granted=granted)
            policy["version"] = 3  # conditional bindings need it
            try:
                projects.setIamPolicy(resource=cfg.project, body={"policy": policy}).execute()
                return
            except Exception as exc:
                if status_of(exc) != 409 or attempt == POLICY_WRITES - 1:
                    raise


def _ours(binding: dict[str, Any], cfg: CloudConfig) -> bool:
    return (
        binding.get("role") == SQL_CLIENT and (binding.get("condition") or {}).get("title") == _condition(cfg)["title"]
    )


def _has_sql_access(policy: dict[str, Any], cfg: CloudConfig, member: str) -> bool:
    return any(_ours(b, cfg) and member in b.get("members", []) for b in policy.get("bindings", []))


def _with_member(
    bindings: list[dict[str, Any]], cfg: CloudConfig, member: str, *, granted: bool
) -> list[dict[str, Any]]:
    others = [b for b in bindings if not _ours(b, cfg)]
    members = {m for b in bindings if _ours(b, cfg) for m in b.get("members", [])}
    members = members | {member} if granted else members - {member}
    if not members:
        return others
    return [*others, {"role": SQL_CLIENT, "members": sorted(members), "condition": _condition(cfg)}]


def grant_sql_access(spec: SiteSpec) -> None:
    _change_sql_access(spec, granted=True)


def revoke_sql_access(spec: SiteSpec) -> None:
    _change_sql_access(spec, granted=False)


def has_sql_access(spec: SiteSpec) -> bool:
    cfg = config()
    member = f"serviceAccount:{names.service_account_email(cfg.project, spec)}"
    with cloud_call("reading the project's IAM policy"):
        policy = (
            clients.resourcemanager()
            .projects()
            .getIamPolicy(resource=cfg.project, body={"options": {"requestedPolicyVersion": 3}})
            .execute()
        )
    return _has_sql_access(policy, cfg, member)
