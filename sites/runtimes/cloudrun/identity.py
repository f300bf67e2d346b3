"""Each site's own service account: what its Cloud Run service runs as, and the only member given
access to its bucket and its secrets."""

from sites.runtimes.cloudrun import clients, names
from sites.runtimes.cloudrun.config import config
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
