"""Secret Manager as the secret store, for sites on Google Cloud (SITES_SECRETS=secretmanager).

One secret per site and value (`aipress-<site key>-<NAME>`, labelled with the site's tenant and site
ids), a version per value it has had; the reference the platform keeps is the version's resource
name, so the database holds no secret at all. The `secrets` step gives the site's own service account
secretAccessor on the site's own secrets, one binding per secret and nothing project-wide: the site's
Cloud Run service reads them as env vars, and can read no other site's.
"""

import contextlib
import threading
import time

import google_crc32c
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from google.api_core import exceptions as api_errors
from google.cloud import secretmanager_v1
from google.iam.v1 import iam_policy_pb2, policy_pb2

from sites.runtimes.cloudrun import clients, names
from sites.runtimes.cloudrun.errors import cloud_call
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


def secret_path(key: str, name: str) -> str:
    return f"projects/{_project()}/secrets/{names.secret_id(key, name)}"


def _crc32c(data: bytes) -> int:
    return int.from_bytes(google_crc32c.Checksum(data).digest(), "big")


def _site_secret_names(spec: SiteSpec) -> list[str]:
    return sorted({*spec.secrets, *spec.env})


class SecretManagerStore:
    name = "secretmanager"

    def store(self, *, owner: str, name: str, value: str) -> str:
        key = f"{settings.SITES_KEY_PREFIX}{owner}"
        path = secret_path(key, name)
        client = _client()
        with cloud_call(f"keeping {name} in Secret Manager"):
            # Quiet when it exists: a new value of a value it already keeps is a new version of it.
            with contextlib.suppress(api_errors.Conflict):
                client.create_secret(
                    parent=f"projects/{_project()}",
                    secret_id=names.secret_id(key, name),
                    secret=secretmanager_v1.Secret(
                        replication=secretmanager_v1.Replication(automatic=secretmanager_v1.Replication.Automatic()),
                        labels=names.labels_of_key(key),
                    ),
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
        with cloud_call("reading a site's secret from Secret Manager"):
            answer = _client().access_secret_version(name=reference)
        data = bytes(answer.payload.data)
        if answer.payload.data_crc32c and _crc32c(data) != answer.payload.data_crc32c:
            raise StepError("A secret read from Secret Manager was damaged on the way (its checksum differs).")
        return data.decode()

    def forget(self, reference: str) -> None:
        """The value behind `reference` is destroyed; when it was the secret's newest value (the
        variable was removed, or the site was), the whole secret goes."""
        with _revealed_lock:
            _revealed.pop(reference, None)
        secret = reference.split("/versions/", maxsplit=1)[0]
        client = _client()
        with cloud_call("removing a site's secret from Secret Manager"):
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
        with cloud_call("letting the site's service account read its secrets"):
            for name in _site_secret_names(spec):
                path = secret_path(spec.key, name)
                policy = client.get_iam_policy(request=iam_policy_pb2.GetIamPolicyRequest(resource=path))
                if [(b.role, list(b.members)) for b in policy.bindings] == [(ACCESSOR, [member])]:
                    continue
                wanted = policy_pb2.Policy(
                    bindings=[policy_pb2.Binding(role=ACCESSOR, members=[member])], etag=policy.etag
                )
                client.set_iam_policy(request=iam_policy_pb2.SetIamPolicyRequest(resource=path, policy=wanted))
        return Done(f"{len(_site_secret_names(spec))} secrets in Secret Manager, readable by the site's account alone")

    def remove(self, step: str, spec: SiteSpec, handle: str | None) -> None:
        """Every secret labelled with this site goes (the pipeline forgets each reference too)."""
        labels = names.labels(spec)
        selector = " AND ".join(f"labels.{label}={labels[label]}" for label in (names.TENANT_LABEL, names.SITE_LABEL))
        client = _client()
        with cloud_call("removing the site's secrets from Secret Manager"):
            for secret in client.list_secrets(request={"parent": f"projects/{_project()}", "filter": selector}):
                if not secret.name.rsplit("/", 1)[-1].startswith(names.secret_id(spec.key, "")):
                    continue  # labels say this site, its name does not: not ours to delete
                with contextlib.suppress(api_errors.NotFound):
                    client.delete_secret(name=secret.name)

    def status(self, step: str, spec: SiteSpec) -> bool:
        client = _client()
        with cloud_call("looking for the site's secrets"):
            for name in _site_secret_names(spec):
                try:
                    client.get_secret(name=secret_path(spec.key, name))
                except api_errors.NotFound:
                    return False
        return bool(spec.secrets.get("DB_PASSWORD"))

    def check(self) -> str:
        project = _project()
        with cloud_call("listing secrets"):
            next(iter(_client().list_secrets(request={"parent": f"projects/{project}", "page_size": 1})), None)
        return f"Secret Manager in {project}"
