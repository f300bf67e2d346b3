"""Secret Manager as the secret store, for sites on Google Cloud (SITES_SECRETS=secretmanager).

One secret per site and value (`aipress-<site key>-<NAME>`, labelled with the site's tenant and site
ids), a version per value it has had; the reference the platform keeps is the version's resource
name, so the database holds no secret at all. The `secrets` step gives the site's own service account
secretAccessor on the site's own secrets, one binding per secret and nothing project-wide: the site's
Cloud Run service reads them as env vars, and can read no other site's.

A tenant secret (owner `t<tenant id>`) is one secret `aipress-<tenant key>-<name>`, labelled with
the tenant alone: no site's account may read it, and no sweep of a site's secrets lists it. A site
env var linked to it gets the site's own copy of the value it has now (`linked_copies`): a secret
per value copied, labelled with the site, readable by the site's account alone, made by the
`secrets` step (and by the runtime before it deploys a revision that refers to it), deleted once the
site's revision no longer refers to it (`forget_unused_copies`) or with the site. So a site's code
reads only what it was given, and billing and deletion stay per site.
"""

import contextlib
import functools
import re
import threading
import time

import google_crc32c
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from google.api_core import exceptions as api_errors
from google.cloud import secretmanager_v1
from google.iam.v1 import iam_policy_pb2, policy_pb2

from sites.runtimes.cloudrun import clients, names
from sites.runtimes.cloudrun.errors import cloud_call, quietly_missing
from sites.spec import Done, SiteSpec, StepError, StepResult

ACCESSOR = "roles/secretmanager.secretAccessor"
# A version's value never changes, so what was read once is kept in this process for a while: the
# pipeline reveals a site's secrets for every step and every poll, which would otherwise be ten reads
# from Secret Manager each time (bench/cloudrun_provision.py: 188 of a site's 261 calls). Values stay
# in memory only, as every revealed value does; a destroyed version is never asked for again, because
# the platform holds the newer reference.
REVEALED_FOR_SECONDS = 600.0
REVEALED_AT_MOST = 4096
_revealed: dict[str, tuple[float, str]] = {}
_revealed_lock = threading.Lock()


def _project() -> str:
    if not settings.GOOGLE_CLOUD_PROJECT:
        raise ImproperlyConfigured(
            "SITES_SECRETS=secretmanager needs GOOGLE_CLOUD_PROJECT (the project to keep them in)."
        )
    return str(settings.GOOGLE_CLOUD_PROJECT)


def _client() -> secretmanager_v1.SecretManagerServiceClient:
    return clients.secrets()


def _crc32c(data: bytes) -> int:
    return int.from_bytes(google_crc32c.Checksum(data).digest(), "big")


def _site_secret_names(spec: SiteSpec) -> list[str]:
    return sorted({*spec.secrets, *spec.env})


def _automatic() -> secretmanager_v1.Replication:
    return secretmanager_v1.Replication(automatic=secretmanager_v1.Replication.Automatic())


# --- A site's own copies of its tenant's secrets ---------------------------------------------------

# On a copy: the tenant secret version it holds the value of, for people reading the console.
COPY_OF_ANNOTATION = "aipress-copy-of"
_VERSION_NAME = re.compile(r"^projects/[^/]+/secrets/(?P<secret>[A-Za-z0-9_-]{1,255})/versions/[1-9][0-9]*$")


def linked_source(spec: SiteSpec, name: str) -> str | None:
    """The tenant secret version the site's env var `name` takes its value from (a link), or None
    for a value of the site's own. A reference that is neither the site's own nor its tenant's is
    refused: no copy is ever made of another tenant's secret."""
    reference = spec.references.get(name, "")
    if not reference or name in spec.secrets:
        return None
    project = _project()
    if reference.startswith(f"projects/{project}/secrets/{names.secret_id(spec.key, '')}"):
        return None
    found = _VERSION_NAME.fullmatch(reference)
    tenant_prefix = names.tenant_secret_prefix(names.tenant_key_of(spec.key))
    if (
        found is None
        or not reference.startswith(f"projects/{project}/")
        or not found["secret"].startswith(tenant_prefix)
    ):
        raise StepError(f"The env var {name} refers to a value that is neither the site's nor its organisation's.")
    return reference


def linked_copies(spec: SiteSpec) -> dict[str, tuple[str, str]]:
    """Each env var linked to a tenant secret: (the tenant secret version, the id of the site's copy)."""
    copies: dict[str, tuple[str, str]] = {}
    for name in sorted(spec.references):
        source = linked_source(spec, name)
        if source is not None:
            copies[name] = (source, names.linked_secret_id(spec.key, name, source))
    return copies


def env_secret(spec: SiteSpec, name: str) -> tuple[str, str]:
    """The secret id and version a revision reads env var or secret `name` from: the site's own
    secret at the version the platform holds, or the site's copy of a tenant secret (its only
    version). Pinned either way: every instance of a revision reads the same value."""
    copies = linked_copies(spec)
    if name in copies:
        return copies[name][1], "1"
    reference = spec.references.get(name, "")
    version = reference.rsplit("/versions/", 1)[1] if "/versions/" in reference else "latest"
    return names.secret_id(spec.key, name), version


def ensure_linked_copies(spec: SiteSpec) -> int:
    """Each copy the site's env needs exists, readable by the site's account alone, holding the value
    of the tenant secret version it was made from. A copy is made in that order (secret, access,
    value), so one whose version exists is whole: that is all this asks of one already there (one call
    each; the runtime asks before every deployment). How many copies were made."""
    copies = linked_copies(spec)
    if not copies:
        return 0
    client = _client()
    member = f"serviceAccount:{names.service_account_email(_project(), spec)}"
    made = 0
    for name, (source, copy_id) in copies.items():
        path = f"projects/{_project()}/secrets/{copy_id}"
        with cloud_call(f"looking for the site's copy of the organisation's secret behind {name}"):
            if quietly_missing(functools.partial(client.get_secret_version, name=f"{path}/versions/1")) is not None:
                continue
        if name not in spec.env:
            raise StepError(f"The value of the env var {name} was not revealed: its copy cannot be made.")
        with cloud_call(f"keeping the site's copy of the organisation's secret behind {name}"):
            with contextlib.suppress(api_errors.Conflict):  # made by an attempt that stopped halfway
                client.create_secret(
                    parent=f"projects/{_project()}",
                    secret_id=copy_id,
                    secret=secretmanager_v1.Secret(
                        replication=_automatic(),
                        labels={**names.labels(spec), names.LINKED_LABEL: "true"},
                        annotations={COPY_OF_ANNOTATION: source},
                    ),
                )
            _readable_by_alone(client, path, member)
            data = spec.env[name].encode()
            client.add_secret_version(
                parent=path, payload=secretmanager_v1.SecretPayload(data=data, data_crc32c=_crc32c(data))
            )
        made += 1
    return made


def forget_unused_copies(spec: SiteSpec) -> int:
    """Delete the site's copies its env no longer refers to (a link removed or replaced, a tenant
    secret given a new value). Called once the revision that refers to the current ones serves: the
    serving revision never loses a value it reads. How many were deleted."""
    wanted = {copy_id for _, copy_id in linked_copies(spec).values()}
    labels = {**names.labels(spec), names.LINKED_LABEL: "true"}
    selector = " AND ".join(f"labels.{label}={value}" for label, value in labels.items() if label != "aipress-managed")
    client = _client()
    deleted = 0
    with cloud_call("removing the site's copies of secrets it no longer uses"):
        for secret in client.list_secrets(request={"parent": f"projects/{_project()}", "filter": selector}):
            if _ours(secret, spec, labels) and secret.name.rsplit("/", 1)[-1] not in wanted:
                with contextlib.suppress(api_errors.NotFound):
                    client.delete_secret(name=secret.name)
                deleted += 1
    return deleted


def _ours(secret: secretmanager_v1.Secret, spec: SiteSpec, labels: dict[str, str]) -> bool:
    """Whether a listed secret is this site's by its labels AND its name: whatever a listing's filter
    let through, a tenant secret (no site label, not under the site's prefix) or another site's
    secret is never deleted for this one."""
    found = dict(secret.labels)
    return secret.name.rsplit("/", 1)[-1].startswith(names.secret_id(spec.key, "")) and all(
        found.get(label) == value for label, value in labels.items()
    )


def _readable_by_alone(client: secretmanager_v1.SecretManagerServiceClient, path: str, member: str) -> None:
    """The secret's policy: secretAccessor for `member`, and nothing else."""
    policy = client.get_iam_policy(request=iam_policy_pb2.GetIamPolicyRequest(resource=path))
    if [(b.role, list(b.members)) for b in policy.bindings] == [(ACCESSOR, [member])]:
        return
    wanted = policy_pb2.Policy(bindings=[policy_pb2.Binding(role=ACCESSOR, members=[member])], etag=policy.etag)
    client.set_iam_policy(request=iam_policy_pb2.SetIamPolicyRequest(resource=path, policy=wanted))


class SecretManagerStore:
    name = "secretmanager"

    def store(self, *, owner: str, name: str, value: str) -> str:
        """`owner` is a site's key (`t5_s9`: the secret is the site's, labelled with it) or a tenant's
        (`t5`: a tenant secret, labelled with the tenant alone); anything else is refused."""
        key = f"{settings.SITES_KEY_PREFIX}{owner}"
        if names.is_tenant_key(key):
            secret_id, labels = names.tenant_secret_id(key, name), names.labels_of_tenant_key(key)
        else:
            secret_id, labels = names.secret_id(key, name), names.labels_of_key(key)
        path = f"projects/{_project()}/secrets/{secret_id}"
        client = _client()
        with cloud_call(f"keeping {name} in Secret Manager"):
            # Quiet when it exists: a new value of a value it already keeps is a new version of it.
            with contextlib.suppress(api_errors.Conflict):
                client.create_secret(
                    parent=f"projects/{_project()}",
                    secret_id=secret_id,
                    secret=secretmanager_v1.Secret(replication=_automatic(), labels=labels),
                )
            data = value.encode()
            version = client.add_secret_version(
                parent=path,
                payload=secretmanager_v1.SecretPayload(data=data, data_crc32c=_crc32c(data)),
            )
        return str(version.name)

    def reveal(self, reference: str) -> str:
        now = time.monotonic()
        with _revealed_lock:
            kept = _revealed.get(reference)
        if kept is not None and now - kept[0] < REVEALED_FOR_SECONDS and not reference.endswith("/latest"):
            return kept[1]
        value = self._read(reference)
        with _revealed_lock:
            if len(_revealed) >= REVEALED_AT_MOST:
                _revealed.clear()
            _revealed[reference] = (now, value)
        return value

    def _read(self, reference: str) -> str:
        with cloud_call("reading a secret from Secret Manager"):
            answer = _client().access_secret_version(name=reference)
        data = bytes(answer.payload.data)
        if answer.payload.data_crc32c and _crc32c(data) != answer.payload.data_crc32c:
            raise StepError("A secret read from Secret Manager was damaged on the way (its checksum differs).")
        return data.decode()

    def forget(self, reference: str) -> None:
        """The value behind `reference` is destroyed; when it was the secret's newest value (the
        variable was removed, or the site was; a tenant secret was deleted, or its tenant was), the
        whole secret goes."""
        with _revealed_lock:
            _revealed.pop(reference, None)
        secret = reference.split("/versions/", maxsplit=1)[0]
        client = _client()
        with cloud_call("removing a secret from Secret Manager"):
            try:
                newest = client.get_secret_version(name=f"{secret}/versions/latest")
                if newest.name == reference:
                    client.delete_secret(name=secret)
                else:
                    client.destroy_secret_version(name=reference)
            except api_errors.NotFound:
                pass
            except (api_errors.FailedPrecondition, api_errors.BadRequest):
                pass  # destroyed already (FAILED_PRECONDITION, a 400 over REST)

    # --- The `secrets` step -------------------------------------------------------------------

    def ensure(self, step: str, spec: SiteSpec, handle: str | None) -> StepResult:
        missing = [name for name in ("DB_PASSWORD",) if not spec.secrets.get(name)]
        if missing:
            raise StepError(f"The site's secrets {', '.join(missing)} are missing.")
        member = f"serviceAccount:{names.service_account_email(_project(), spec)}"
        client = _client()
        # A linked env var's copy first: the policies below are then set on secrets that exist.
        ensure_linked_copies(spec)
        with cloud_call("letting the site's service account read its secrets"):
            for name in _site_secret_names(spec):
                _readable_by_alone(client, self._path(spec, name), member)
        return Done(f"{len(_site_secret_names(spec))} secrets in Secret Manager, readable by the site's account alone")

    @staticmethod
    def _path(spec: SiteSpec, name: str) -> str:
        """Where the site's revision reads `name` from: its own secret, or its copy of a tenant secret."""
        return f"projects/{_project()}/secrets/{env_secret(spec, name)[0]}"

    def remove(self, step: str, spec: SiteSpec, handle: str | None) -> None:
        """Every secret labelled with this site goes, its copies of tenant secrets included (the
        pipeline forgets each reference too). Never a tenant secret: it has no site label and is not
        under the site's prefix, and `_ours` checks both on whatever the listing answers."""
        labels = names.labels(spec)
        wanted = {label: labels[label] for label in (names.TENANT_LABEL, names.SITE_LABEL)}
        selector = " AND ".join(f"labels.{label}={value}" for label, value in wanted.items())
        client = _client()
        with cloud_call("removing the site's secrets from Secret Manager"):
            for secret in client.list_secrets(request={"parent": f"projects/{_project()}", "filter": selector}):
                if not _ours(secret, spec, wanted):
                    continue  # the listing let through what is not this site's: not ours to delete
                with contextlib.suppress(api_errors.NotFound):
                    client.delete_secret(name=secret.name)

    def status(self, step: str, spec: SiteSpec) -> bool:
        client = _client()
        with cloud_call("looking for the site's secrets"):
            for name in _site_secret_names(spec):
                try:
                    client.get_secret(name=self._path(spec, name))
                except api_errors.NotFound:
                    return False
        return bool(spec.secrets.get("DB_PASSWORD"))

    def check(self) -> str:
        project = _project()
        with cloud_call("listing secrets"):
            next(iter(_client().list_secrets(request={"parent": f"projects/{project}", "page_size": 1})), None)
        return f"Secret Manager in {project}"
